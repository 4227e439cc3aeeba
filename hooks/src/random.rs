//! `random.random()` and `random.randint()` on the `random` module's own generator,
//! and `numpy.random.randint()` on numpy's global `RandomState`'s bit generator.
//!
//! Compiled code advances the very Mersenne Twister state of the `random.Random`
//! instance (the `_random.Random` object's `index` and `state[624]`), with the same
//! algorithm and the same float and integer constructions as CPython's `_random` module
//! and `random.py`, so the stream is the one python3 produces and interpreted and
//! compiled calls interleave freely. `snapshot.rs` only hands compiled code a generator
//! whose class is the standard one.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The layout of CPython 3.11's `RandomObject` (private to `_randommodule.c`).
#[repr(C)]
pub struct RandomObject {
    ob_refcnt: isize,
    ob_type: *mut std::ffi::c_void,
    index: i32,
    state: [u32; N],
}

/// The next 32 random bits (MT19937 with its standard tempering).
pub fn next_u32(generator: &mut RandomObject) -> u32 {
    if generator.index < 0 || generator.index as usize >= N {
        let mt = &mut generator.state;
        for k in 0..N {
            let y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        generator.index = 0;
    }
    let mut y = generator.state[generator.index as usize];
    generator.index += 1;
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c_5680;
    y ^= (y << 15) & 0xefc6_0000;
    y ^= y >> 18;
    y
}

/// `random()`: 53 random bits as a float in [0, 1).
pub fn next_float(generator: &mut RandomObject) -> f64 {
    let a = next_u32(generator) >> 5;
    let b = next_u32(generator) >> 6;
    (f64::from(a) * 67_108_864.0 + f64::from(b)) * (1.0 / 9_007_199_254_740_992.0)
}

/// `getrandbits(k)` for `1 <= k <= 64`: 32-bit words, least significant first.
fn random_bits(generator: &mut RandomObject, k: u32) -> u64 {
    if k <= 32 {
        return u64::from(next_u32(generator) >> (32 - k));
    }
    let low = u64::from(next_u32(generator));
    let rest = k - 32;
    let high = u64::from(next_u32(generator) >> (32 - rest));
    low | (high << 32)
}

/// `randint(a, b)`, or `None` when Python raises (an empty range) or the width does
/// not fit the 64-bit path; nothing is drawn in that case.
pub fn randint(generator: &mut RandomObject, a: i64, b: i64) -> Option<i64> {
    let width = i128::from(b) + 1 - i128::from(a);
    if width <= 0 {
        return None;
    }
    let width = u64::try_from(width).ok()?;
    let k = 64 - width.leading_zeros();
    if k > 64 {
        return None;
    }
    loop {
        let r = random_bits(generator, k);
        if r < width {
            return Some((i128::from(a) + i128::from(r)) as i64);
        }
    }
}

/// # Safety
/// `generator` is a live `_random.Random` instance and the GIL is held.
pub unsafe extern "C-unwind" fn pyopt_random(generator: *mut RandomObject) -> f64 {
    // SAFETY: per this function's contract.
    next_float(unsafe { &mut *generator })
}

/// # Safety
/// As for [`pyopt_random`]; `out` is writable.
pub unsafe extern "C-unwind" fn pyopt_randint(
    generator: *mut RandomObject,
    a: i64,
    b: i64,
    out: *mut i64,
) -> u32 {
    // SAFETY: per this function's contract.
    match randint(unsafe { &mut *generator }, a, b) {
        Some(value) => {
            // SAFETY: compiled code passes a pointer to a stack slot.
            unsafe { out.write(value) };
            0
        }
        None => 1,
    }
}

/// numpy's `bitgen_t`: the state, then `next_uint64`, `next_uint32`, `next_double`.
#[repr(C)]
pub struct BitGen {
    state: *mut std::ffi::c_void,
    next_uint64: unsafe extern "C" fn(*mut std::ffi::c_void) -> u64,
    next_uint32: unsafe extern "C" fn(*mut std::ffi::c_void) -> u32,
}

/// The smallest all-ones mask covering `max`.
fn mask_covering(max: u64) -> u64 {
    let mut mask = max;
    for shift in [1, 2, 4, 8, 16, 32] {
        mask |= mask >> shift;
    }
    mask
}

/// `pyopt_numpy_randint`: legacy `RandomState.randint(low, high)` (low < high) for
/// int64: an offset plus a value in `0..=high-low-1` drawn by masked rejection, from
/// 32-bit draws when the range fits 32 bits and 64-bit draws otherwise (numpy's
/// `random_bounded_uint64_fill` with `use_masked`, which the legacy API always uses).
///
/// # Safety
/// `bitgen` is the live `bitgen_t` of numpy's global `RandomState`, whose lock is not
/// held by another thread (compiled code checked); the GIL is held.
pub unsafe extern "C-unwind" fn pyopt_numpy_randint(
    bitgen: *const BitGen,
    low: i64,
    high: i64,
) -> i64 {
    // The inclusive range high - 1 - low, as numpy computes it in uint64.
    let range = (high as u64).wrapping_sub(1).wrapping_sub(low as u64);
    // SAFETY: per the contract.
    let value = unsafe {
        let bitgen = &*bitgen;
        let state = bitgen.state;
        if range == 0 {
            0
        } else if range <= u64::from(u32::MAX) {
            if range == u64::from(u32::MAX) {
                u64::from((bitgen.next_uint32)(state))
            } else {
                let mask = mask_covering(range);
                loop {
                    let v = u64::from((bitgen.next_uint32)(state)) & mask;
                    if v <= range {
                        break v;
                    }
                }
            }
        } else if range == u64::MAX {
            (bitgen.next_uint64)(state)
        } else {
            let mask = mask_covering(range);
            loop {
                let v = (bitgen.next_uint64)(state) & mask;
                if v <= range {
                    break v;
                }
            }
        }
    };
    (low as u64).wrapping_add(value) as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_cover_the_range() {
        assert_eq!(super::mask_covering(5), 7);
        assert_eq!(super::mask_covering(8), 15);
        assert_eq!(super::mask_covering(1 << 40), (1 << 41) - 1);
        assert_eq!(super::mask_covering(u64::MAX - 1), u64::MAX);
    }

    use super::*;

    /// The reference MT19937 seeding, to test the generator without Python.
    fn seeded(seed: u32) -> RandomObject {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        RandomObject {
            ob_refcnt: 1,
            ob_type: std::ptr::null_mut(),
            index: N as i32,
            state,
        }
    }

    #[test]
    fn matches_the_reference_output() {
        // The first outputs of MT19937 seeded with 5489 (the reference implementation's
        // default seed).
        let mut generator = seeded(5489);
        let first: Vec<u32> = (0..3).map(|_| next_u32(&mut generator)).collect();
        assert_eq!(first, vec![3_499_211_612, 581_869_302, 3_890_346_734]);
    }

    #[test]
    fn randint_stays_in_range_and_refuses_empty_ranges() {
        let mut generator = seeded(1);
        for _ in 0..1000 {
            let v = randint(&mut generator, -3, 5).unwrap();
            assert!((-3..=5).contains(&v));
        }
        assert_eq!(randint(&mut generator, 5, 4), None);
        assert!(randint(&mut generator, i64::MIN, i64::MAX).is_none());
        let v = randint(&mut generator, 0, i64::MAX).unwrap();
        assert!(v >= 0);
    }
}
