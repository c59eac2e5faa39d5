//! Hamming distances between packed sign bits: the coarse similarity pass over a whole catalog.

/// Hamming distance between `query` and each item of `items` (packed, `query.len()` words
/// each) into `out`.
#[inline]
pub fn hamming_block(query: &[u64], items: &[u64], out: &mut [u32]) {
    let words = query.len();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    match words {
        // 384 bits (MiniLM, bge-small, gte-small) and 256 (a lite model's 240): whole v128s.
        6 => return simd::hamming_block::<3>(query, items, out),
        4 => return simd::hamming_block::<2>(query, items, out),
        _ => {}
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

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// [`super::hamming_block`] for vectors of `V` v128s (2 × `V` words), the query kept in
    /// registers.
    #[inline]
    pub fn hamming_block<const V: usize>(query: &[u64], items: &[u64], out: &mut [u32]) {
        let words = 2 * V;
        if query.len() != words {
            return;
        }
        // As the portable loop's zip: as many items as both hold.
        let n = out.len().min(items.len() / words);
        let out = &mut out[..n];
        // SAFETY: the query has `words` words and each of the `out.len()` items `words` more
        // (just above); v128_load and v128_store are unaligned.
        unsafe {
            let qp = query.as_ptr() as *const v128;
            let q: [v128; V] = core::array::from_fn(|k| v128_load(qp.add(k)));
            // An item's byte counts, widened to four i32 lanes.
            let lanes = |ip: *const v128| {
                let mut c = u8x16_popcnt(v128_xor(v128_load(ip), q[0]));
                for (k, qk) in q.iter().enumerate().skip(1) {
                    c = u8x16_add(c, u8x16_popcnt(v128_xor(v128_load(ip.add(k)), *qk)));
                }
                u32x4_extadd_pairwise_u16x8(u16x8_extadd_pairwise_u8x16(c))
            };
            // Four items at a time: their lanes summed by a transpose, one store of four distances.
            let whole = out.len() / 4 * 4;
            for (o, item) in out[..whole].chunks_exact_mut(4).zip(items.chunks_exact(4 * words)) {
                let ip = item.as_ptr() as *const v128;
                let (d0, d1, d2, d3) = (lanes(ip), lanes(ip.add(V)), lanes(ip.add(2 * V)), lanes(ip.add(3 * V)));
                let u = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(d0, d1), i32x4_shuffle::<2, 6, 3, 7>(d0, d1));
                let v = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(d2, d3), i32x4_shuffle::<2, 6, 3, 7>(d2, d3));
                let r = i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(u, v), i32x4_shuffle::<2, 3, 6, 7>(u, v));
                v128_store(o.as_mut_ptr() as *mut v128, r);
            }
            for (o, item) in out[whole..].iter_mut().zip(items[whole * words..].chunks_exact(words)) {
                let s = lanes(item.as_ptr() as *const v128);
                let s = i32x4_add(s, i32x4_shuffle::<2, 3, 0, 1>(s, s));
                *o = u32x4_extract_lane::<0>(s) + u32x4_extract_lane::<1>(s);
            }
        }
    }
}
