//! A local Azure Resource Manager emulator (library and server).
pub fn placeholder() {}
