// HTTP helpers and fixed requests for the tests and the load script (127.0.0.1 only).
import http from "node:http";

/** Five boards of 20 real movielens catalog items each (no text pins: no encoder pass). */
export const FIVE_BOARDS = {
  boards: [
    { name: "Pixar night", pins: ids("1 364 588 4306 6377 4886 8961 595 68954 60069 5618 3114 2700 2987 551 50872 5218 8360 78499 1148") },
    { name: "Thrillers", pins: ids("296 2959 593 2571 50 480 608 47 457 4226 79132 32 293 1089 4878 1240 1036 48516 541 6874") },
    { name: "Space", pins: ids("260 1196 589 1210 7361 1270 924 1214 1200 1206 780 1682 1097 3793 1580 72998 1527 2716 44191 5445") },
    { name: "Laughs", pins: ids("356 1197 1136 1732 1265 4973 6539 750 380 223 778 1073 2502 2997 4011 1968 2324 1080 2396 2918") },
    { name: "Documentaries", pins: ids("5669 8464 246 2064 8622 80906 162 7156 1189 6331 1147 5785 7932 34072 1289 7256 27846 33154 54881 77455") },
  ],
  target_board: "Pixar night",
  k: 10,
};

export function ids(list) {
  return list.split(/\s+/).filter(Boolean).map((id) => ({ id }));
}

export function assertLoopback(url) {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
    throw new Error(`refusing to send requests to ${host}: 127.0.0.1 only`);
  }
}

/**
 * POSTs `body` (an object or array, sent as JSON; a string or Uint8Array, sent as is) and returns
 * { status, headers, json, text }; with `chunks` (Uint8Arrays), those are sent instead, chunked,
 * without a content-length. Each request has its own connection (no keep-alive), so a
 * connection the server closed while idle can never be picked up for the next request.
 */
export function post(base, path, body, { headers = {}, contentType = "application/json", chunks } = {}) {
  const h = { ...(contentType ? { "content-type": contentType } : {}), ...headers };
  if (chunks) return request(base, path, { method: "POST", headers: h, chunks });
  const bytes = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  return request(base, path, { method: "POST", headers: { ...h, "content-length": String(Buffer.byteLength(bytes)) }, chunks: [bytes] });
}

export function get(base, path, { method = "GET", headers = {} } = {}) {
  return request(base, path, { method, headers, chunks: [] });
}

function request(base, path, { method, headers, chunks }) {
  assertLoopback(base);
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, agent: false }, (res) => {
      const parts = [];
      res.on("data", (d) => parts.push(d));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const hs = new Headers();
        for (const [k, v] of Object.entries(res.headers)) hs.set(k, Array.isArray(v) ? v.join(", ") : v);
        resolve({ status: res.statusCode, headers: hs, json, text });
      });
    });
    req.on("error", reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)];
}
