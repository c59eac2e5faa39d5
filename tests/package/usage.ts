// A typed use of every entry point of the npm package, compiled by tests/package/package.test.mjs
// with tsc --strict against the installed tarball. The @ts-expect-error lines must stay errors.
import { createRecommender, EdgerecError, Sha256, type BoardContext, type Recommendations } from "edgerec";
import { createHandler, DEFAULT_VARS, type Handler } from "edgerec/cloudflare";
import type { Limits } from "edgerec/wasm";

export async function page(): Promise<string[]> {
  const rec = await createRecommender({ manifest: "/edgerec/manifest.json", onProgress: (p) => console.log(p.phase) });
  const context: BoardContext = { boards: [{ name: "Pixar night", pins: [{ id: "1" }, { title: "toys", id: null }] }], k: 5 };
  const out: Recommendations = await rec.recommend(context);
  const limits: Limits | undefined = rec.info?.limits;
  console.log(limits?.field_bytes);
  // @ts-expect-error a pin's id is a string
  await rec.recommend({ boards: [{ name: "b", pins: [{ id: 1 }] }] });
  // @ts-expect-error unknown option
  await createRecommender({ manifest: "/m.json", catalogue: "/c.bin" });
  rec.close();
  try {
    await rec.embed(["x"]);
  } catch (e) {
    if (e instanceof EdgerecError && e.code === "closed") console.log("closed");
  }
  console.log(new Sha256().update(new Uint8Array([1])).hex());
  return out.items.map((it) => `${it.title}: ${it.reason.text} (${it.score.toFixed(3)})`);
}

const handler: Handler = createHandler({ assets: "ASSETS", env: { CORS_ORIGINS: "https://shop.example" } });
export default handler;
export const vars: string = DEFAULT_VARS.LOAD_WAIT_MS;
// @ts-expect-error EDGEREC_MODEL is "on" or "off"
createHandler({ env: { EDGEREC_MODEL: "maybe" } });

// A Worker typed the way `wrangler types` types it: the handler fits its env.
interface Env {
  ASSETS: { fetch(request: Request): Promise<Response> };
  CORS_ORIGINS: string;
}
export const typed: { fetch(request: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> } = createHandler();
