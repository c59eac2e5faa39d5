//! int8 · int8 dot products (catalog vectors against a query), the hot loop of a request.
//!
//! The query is quantized like the items, so one multiply-add chain in i32 scores an item; with
//! wasm `simd128` eight pairs go through one `i32x4.dot_i16x8_s`.

/// `Σ a[i]·b[i]` in i32 (exact: 384 × 127² fits easily).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128(a, b)
    }
    #[cfg(target_arch = "x86_64")]
    {
        sse2(a, b)
    }
    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    {
        portable(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
fn sse2(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::x86_64::*;
    let n = a.len() / 16 * 16;
    // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes at i + 16 <= n.
    unsafe {
        let mut acc = _mm_setzero_si128();
        let mut i = 0;
        while i < n {
            let x = _mm_loadu_si128(a.as_ptr().add(i) as *const __m128i);
            let y = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
            // Sign-extend i8 → i16 by placing each byte in the high half and shifting back.
            let xl = _mm_srai_epi16(_mm_unpacklo_epi8(x, x), 8);
            let xh = _mm_srai_epi16(_mm_unpackhi_epi8(x, x), 8);
            let yl = _mm_srai_epi16(_mm_unpacklo_epi8(y, y), 8);
            let yh = _mm_srai_epi16(_mm_unpackhi_epi8(y, y), 8);
            acc = _mm_add_epi32(acc, _mm_add_epi32(_mm_madd_epi16(xl, yl), _mm_madd_epi16(xh, yh)));
            i += 16;
        }
        let mut lanes = [0i32; 4];
        _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, acc);
        let tail: i32 = a[n..].iter().zip(&b[n..]).map(|(&x, &y)| x as i32 * y as i32).sum();
        lanes.iter().sum::<i32>() + tail
    }
}

#[allow(dead_code)]
fn portable(a: &[i8], b: &[i8]) -> i32 {
    // Chunks of 16 with i32 accumulators: LLVM vectorises this well on x86 and aarch64.
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x as i32 * y as i32).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] as i32 * y[k] as i32;
        }
    }
    acc.iter().sum::<i32>() + tail
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn simd128(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let n = a.len() / 16 * 16;
    let mut acc = i32x4_splat(0);
    let mut i = 0;
    while i < n {
        // SAFETY: i + 16 <= n <= len of both slices; v128_load has no alignment requirement.
        let (x, y) = unsafe { (v128_load(a.as_ptr().add(i) as *const v128), v128_load(b.as_ptr().add(i) as *const v128)) };
        let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
        let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
        acc = i32x4_add(acc, i32x4_add(lo, hi));
        i += 16;
    }
    let mut sum =
        i32x4_extract_lane::<0>(acc) + i32x4_extract_lane::<1>(acc) + i32x4_extract_lane::<2>(acc) + i32x4_extract_lane::<3>(acc);
    for k in n..a.len() {
        sum += a[k] as i32 * b[k] as i32;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_for_all_lengths() {
        for len in [0, 1, 15, 16, 17, 384, 385] {
            let a: Vec<i8> = (0..len).map(|i| ((i * 37 % 255) - 127) as i8).collect();
            // include the extremes
            let a: Vec<i8> = a.iter().enumerate().map(|(i, &x)| if i % 7 == 0 { -128 } else { x }).collect();
            let b: Vec<i8> = (0..len).map(|i| ((i * 91 % 255) - 127) as i8).collect();
            let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(dot_i8(&a, &b), want, "len {len}");
            assert_eq!(portable(&a, &b), want);
            #[cfg(target_arch = "x86_64")]
            assert_eq!(sse2(&a, &b), want);
        }
    }
}
