// Preloaded (`node --import`) into every Node process a test starts: the process kills itself once the process
// that started it is gone (its parent id changes when it is re-parented to init or a subreaper). Tests kill their
// children in `t.after`, but a test runner that is itself killed (a timeout, Ctrl-C, a stopped CI job) runs no
// hooks, and its `wharf start` children used to stay behind holding ports and CPU. Polled every 500 ms, unref'd:
// it never keeps a process alive and costs nothing measurable.
const parent = process.ppid;
// Already re-parented to init: the starter died before this process got here.
if (parent === 1) process.kill(process.pid, "SIGKILL");
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGKILL");
}, 500).unref();
