//! Hamming distances between packed sign bits: the coarse similarity pass over a whole catalog.

/// Hamming distance between `query` and each item of `items` (packed, `query.len()` words
/// each) into `out`.
#[inline]
pub fn hamming_block(query: &[u64], items: &[u64], out: &mut [u32]) {
    let words = query.len();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if words == 6 {
        // 384 bits (MiniLM, bge-small, gte-small): three v128 per vector, the query kept in registers.
        use core::arch::wasm32::*;
        // SAFETY: the query has 6 words; every item chunk has 6 words; v128_load is unaligned.
        unsafe {
            let qp = query.as_ptr() as *const v128;
            let (q0, q1, q2) = (v128_load(qp), v128_load(qp.add(1)), v128_load(qp.add(2)));
            // Each item's 16 byte counts, widened to four i32 lanes.
            let lanes = |ip: *const v128| {
                let c = u8x16_add(
                    u8x16_add(u8x16_popcnt(v128_xor(v128_load(ip), q0)), u8x16_popcnt(v128_xor(v128_load(ip.add(1)), q1))),
                    u8x16_popcnt(v128_xor(v128_load(ip.add(2)), q2)),
                );
                u32x4_extadd_pairwise_u16x8(u16x8_extadd_pairwise_u8x16(c))
            };
            // Four items at a time: their lanes summed by a transpose, one store of four distances.
            let whole = out.len().min(items.len() / 6) / 4 * 4;
            for (o, item) in out[..whole].chunks_exact_mut(4).zip(items.chunks_exact(24)) {
                let ip = item.as_ptr() as *const v128;
                let (d0, d1, d2, d3) = (lanes(ip), lanes(ip.add(3)), lanes(ip.add(6)), lanes(ip.add(9)));
                let u = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(d0, d1), i32x4_shuffle::<2, 6, 3, 7>(d0, d1));
                let v = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(d2, d3), i32x4_shuffle::<2, 6, 3, 7>(d2, d3));
                let r = i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(u, v), i32x4_shuffle::<2, 3, 6, 7>(u, v));
                v128_store(o.as_mut_ptr() as *mut v128, r);
            }
            for (o, item) in out[whole..].iter_mut().zip(items[whole * 6..].chunks_exact(6)) {
                let s = lanes(item.as_ptr() as *const v128);
                let s = i32x4_add(s, i32x4_shuffle::<2, 3, 0, 1>(s, s));
                *o = u32x4_extract_lane::<0>(s) + u32x4_extract_lane::<1>(s);
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has POPCNT (checked just above).
        unsafe { hamming_block_popcnt(query, items, out) };
        return;
    }
    for (o, item) in out.iter_mut().zip(items.chunks_exact(words)) {
        *o = query.iter().zip(item).map(|(x, y)| (x ^ y).count_ones()).sum();
    }
}

/// The portable loop compiled with the POPCNT instruction (not in the x86_64 baseline).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn hamming_block_popcnt(query: &[u64], items: &[u64], out: &mut [u32]) {
    for (o, item) in out.iter_mut().zip(items.chunks_exact(query.len())) {
        *o = query.iter().zip(item).map(|(x, y)| (x ^ y).count_ones()).sum();
    }
}
