"""Pure rules of AlertWhisperer: no I/O, no frameworks. Everything here is testable with plain values."""
