//! The one instruction-set dispatch: which SIMD the kernels (here and in the edge encoder) use.

/// Which instruction set the int8 kernels use (the fastest this build and machine have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust (any target).
    Portable,
    /// x86-64 AVX2 (`vpmaddubsw`), chosen at run time.
    Avx2,
    /// wasm simd128 (`i16x8.extmul`), the default wasm build.
    WasmSimd128,
    /// wasm relaxed-simd (`i32x4.relaxed_dot_i8x16_i7x16_add_s`), the `relaxed-simd` build.
    WasmRelaxedSimd,
}

impl Isa {
    /// The instruction set this process uses.
    pub fn current() -> Isa {
        #[cfg(all(target_arch = "wasm32", feature = "relaxed-simd"))]
        return Isa::WasmRelaxedSimd;
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(feature = "relaxed-simd")))]
        return Isa::WasmSimd128;
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        #[allow(unreachable_code)]
        Isa::Portable
    }

    /// A short name for benchmarks and health checks.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "x86-avx2",
            Isa::WasmSimd128 => "wasm-simd128",
            Isa::WasmRelaxedSimd => "wasm-relaxed-simd",
        }
    }
}
