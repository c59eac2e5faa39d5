// Compiled by types.test.mjs with `tsc --noEmit --strict` against pkg/edgerec.d.ts, the
// declarations generated from the Rust types: a drift between what Rust accepts or returns and
// what TypeScript users are told fails the tests. Each `@ts-expect-error` is a shape Rust refuses
// (tsc fails if the line stops being an error, too).
import type { BoardContext, Pin, Recommendations, Signal, ErrorCode } from "../../../pkg/edgerec";

// What the wasm API accepts: every optional field may be missing or null (serde reads both).
export const minimal: BoardContext = { boards: [] };
export const full: BoardContext = {
  boards: [
    { name: "Sci-fi night", pins: [{ id: "2571" }, { id: null, title: "a cozy heist comedy", tags: ["comedy"], saved_at: 3 }] },
    { pins: [] },
  ],
  target_board: null,
  k: 12,
  exclude: ["1"],
  diversity: 0.3,
  recency_half_life: null,
};
export const textPin: Pin = { title: "space opera", description: null, saved_at: null };

// @ts-expect-error k is a number
export const badK: BoardContext = { boards: [], k: "10" };
// @ts-expect-error boards is required
export const noBoards: BoardContext = {};
// @ts-expect-error unknown fields are refused (serde deny_unknown_fields)
export const extraField: Pin = { id: "1", rating: 5 };

// What it returns.
export function firstReason(r: Recommendations): string {
  const top = r.items[0];
  const signal: Signal = top.reason.signal;
  const board: string | undefined = top.reason.board;
  return `${top.id} ${top.title} ${top.score.toFixed(3)} ${signal} ${board ?? ""} ${r.model_id} ${r.catalog_id} ${r.embedded_texts + r.unknown_pins}`;
}
// @ts-expect-error signals are the Rust variants
export const badSignal: Signal = "recency";
export const code: ErrorCode = "resource_exhausted";
