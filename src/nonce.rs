//! Unpredictable names. Whatever another principal could guess, it could
//! create first: a change set named before this run asks for it, a scratch
//! table in the way of a drill. Names that must be this run's own carry a
//! nonce from the operating system's random source.

/// `bytes` random bytes from the operating system, as lowercase hex.
///
/// # Panics
/// Never in practice: the OS random source fails only where no secure
/// source exists at all, and drctl refuses to continue on such a machine
/// rather than use a guessable name.
pub fn hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source is unavailable");
    ::hex::encode(buffer)
}

/// `N` random bytes from the operating system (a secret key), with the
/// same refusal as [`hex`].
pub fn secret<const N: usize>() -> [u8; N] {
    let mut buffer = [0u8; N];
    getrandom::fill(&mut buffer).expect("the operating system's random source is unavailable");
    buffer
}

#[cfg(test)]
mod tests {
    #[test]
    fn nonces_are_hex_of_the_asked_length_and_differ() {
        let (a, b) = (super::hex(8), super::hex(8));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
