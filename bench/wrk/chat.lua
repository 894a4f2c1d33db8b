-- wrk script for `make bench`: POST chat requests, print the result as one JSON line.
-- args after `--`: <bodies file, one JSON request per line> [header lines "Name: value" ...]
local requests = {}
local next_index = 1

function init(args)
   local headers = { ["Content-Type"] = "application/json" }
   for i = 2, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      headers[name] = value
   end
   for line in io.lines(args[1]) do
      if #line > 0 then
         requests[#requests + 1] = wrk.format("POST", nil, headers, line)
      end
   end
   -- threads start at different offsets so concurrent connections do not send the same text in step
   next_index = (wrk.thread:get("id") or 0) % #requests + 1
end

function setup(thread)
   setup_count = (setup_count or 0) + 1
   thread:set("id", setup_count * 7919)
end

function request()
   local r = requests[next_index]
   next_index = next_index % #requests + 1
   return r
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
