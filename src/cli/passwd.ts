// `wharf passwd <file> <user>`: adds or changes a user of an argon2id password file (auth.passwordFile), or
// deletes it with -D. The password comes from a prompt on the terminal (asked twice, not echoed) or, for scripts,
// from standard input with --password-stdin (one trailing newline is removed). The file is replaced atomically
// (write + rename, mode 0600), so a running broker reloading it never sees half a file.
import { checkUsername, hashPassword, PasswordFileError, updatePasswordFile } from "../server/auth/index.ts";
import { ExitCode, type ActionResult, type CliIo } from "./program.ts";

export interface PasswdOptions {
  delete: boolean;
  passwordStdin: boolean;
}

export interface PasswordSource {
  /** Whole standard input. */
  readStdin(): Promise<string>;
  /** Prompts on the terminal without echo; undefined when there is no terminal. */
  prompt(question: string): Promise<string | undefined>;
}

export async function passwd(
  file: string,
  username: string,
  opts: PasswdOptions,
  io: CliIo,
  source: PasswordSource = processPasswordSource,
): Promise<ActionResult> {
  const bad = checkUsername(username);
  if (bad !== undefined) {
    io.err(`wharf passwd: ${bad}\n`);
    return ExitCode.BadConfig;
  }
  try {
    if (opts.delete) {
      const existed = updatePasswordFile(file, username, undefined);
      if (!existed) {
        io.err(`wharf passwd: ${file}: no user ${JSON.stringify(username)}\n`);
        return ExitCode.Failure;
      }
      io.out(`${file}: deleted ${username}\n`);
      return ExitCode.Ok;
    }
    let password: string;
    if (opts.passwordStdin) {
      password = (await source.readStdin()).replace(/\r?\n$/, "");
    } else {
      const first = await source.prompt("Password: ");
      if (first === undefined) {
        io.err("wharf passwd: no terminal to ask for the password: use --password-stdin\n");
        return ExitCode.BadConfig;
      }
      const again = await source.prompt("Password (again): ");
      if (first !== again) {
        io.err("wharf passwd: the passwords differ\n");
        return ExitCode.Failure;
      }
      password = first;
    }
    if (password.length === 0) {
      io.err("wharf passwd: empty password refused\n");
      return ExitCode.BadConfig;
    }
    const existed = updatePasswordFile(file, username, await hashPassword(password));
    io.out(`${file}: ${existed ? "changed" : "added"} ${username}\n`);
    return ExitCode.Ok;
  } catch (err) {
    const msg = err instanceof PasswordFileError ? err.message : err instanceof Error ? err.message : String(err);
    io.err(`wharf passwd: ${msg}\n`);
    return ExitCode.Failure;
  }
}

export const processPasswordSource: PasswordSource = {
  async readStdin() {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  prompt(question) {
    const stdin = process.stdin;
    if (!stdin.isTTY) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      process.stderr.write(question);
      stdin.setRawMode(true);
      stdin.resume();
      stdin.setEncoding("utf8");
      let typed = "";
      const onData = (s: string): void => {
        for (const ch of s) {
          if (ch === "\r" || ch === "\n" || ch === "\u0004") {
            stdin.off("data", onData);
            stdin.setRawMode(false);
            stdin.pause();
            process.stderr.write("\n");
            resolve(typed);
            return;
          }
          if (ch === "\u0003") {
            stdin.setRawMode(false);
            process.exit(130); // Ctrl-C
          }
          if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on("data", onData);
    });
  },
};
