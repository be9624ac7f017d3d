//! Work split over the cores: the planner's per-resource steps read only their input, so a
//! large stack is cut into one contiguous run per core and its results joined in order.

/// Items below this many are worked on the calling thread: a thread costs more than it
/// saves on a small stack.
pub const PARALLEL_FROM: usize = 512;

/// The threads [`map`] uses for `n` items: one per core from [`PARALLEL_FROM`] items.
pub fn threads_for(n: usize) -> usize {
    if n < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// `f` of each item, in the items' order, on `threads` threads (the calling one alone below
/// two): the same result as one thread's. A panic in `f` is re-raised with its message.
pub fn map_on<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|run| scope.spawn(move || run.iter().map(f).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::with_capacity(items.len());
        for h in handles {
            match h.join() {
                Ok(part) => all.extend(part),
                // A panic in the planner is a bug; it keeps its message and location.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

/// [`map_on`] with [`threads_for`] threads.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_on(items, threads_for(items.len()), f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_keeps_the_order_of_one_thread() {
        let items: Vec<u32> = (0..1000).collect();
        let one = map_on(&items, 1, |x| x * 3);
        for threads in [2, 3, 7, 1000, 2000] {
            assert_eq!(map_on(&items, threads, |x| x * 3), one, "{threads}");
        }
        assert_eq!(one[999], 2997);
    }
}
