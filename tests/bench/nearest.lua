-- nearest.lua -- wrk script: GET /v1/parking/nearest at points read from a
-- file ("lon lat" per line; the Redis baseline reads the same file), radius
-- 2 km, limit 5. Arguments: <points file> [delay ms per request and
-- connection, to hold a rate below the peak]. Requests are formatted once
-- in init: formatting per request would spend the client's CPU, which on a
-- small machine is the server's too. The HTTP ceiling is measured with
-- this same script against the hello-world server.
local reqs, i, pause = {}, 0, 0

function init(args)
    for line in io.lines(args[1]) do
        local lon, lat = line:match("^(%S+) (%S+)")
        reqs[#reqs + 1] = wrk.format("GET", "/v1/parking/nearest?lon=" .. lon .. "&lat=" .. lat ..
                                            "&radius_m=2000&limit=5")
    end
    i = math.random(#reqs)
    pause = tonumber(args[2] or "0")
end

function delay()
    return pause
end

function request()
    i = i % #reqs + 1
    return reqs[i]
end

function done(summary, latency, requests)
    io.write(string.format("LATENCY p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
                           latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                           summary.errors.connect + summary.errors.read + summary.errors.write
                           + summary.errors.timeout, summary.errors.status))
end
