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
            for (o, item) in out.iter_mut().zip(items.chunks_exact(6)) {
                let ip = item.as_ptr() as *const v128;
                let c = u8x16_add(
                    u8x16_add(u8x16_popcnt(v128_xor(v128_load(ip), q0)), u8x16_popcnt(v128_xor(v128_load(ip.add(1)), q1))),
                    u8x16_popcnt(v128_xor(v128_load(ip.add(2)), q2)),
                );
                let s = u32x4_extadd_pairwise_u16x8(u16x8_extadd_pairwise_u8x16(c));
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
