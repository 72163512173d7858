-- wrk script of `npm run bench:transports` (HTTP bridge publishes): POST a 100 B body to one path, <depth>
-- requests written back to back per connection (HTTP/1.1 pipelining; 1 = one request in flight per connection).
-- Usage: wrk ... -s bench/transports/http-post.lua <url> -- <path> <depth>
-- done() prints one JSON line: wrk counts every response in `requests`; non-2xx/3xx ones in errors.status.
local body = string.rep("a", 100)
local req

function init(args)
  local path = args[1]
  local depth = tonumber(args[2] or "1")
  local parts = {}
  for i = 1, depth do
    parts[i] = wrk.format("POST", path, nil, body)
  end
  req = table.concat(parts)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
