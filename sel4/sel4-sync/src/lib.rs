//! A mutex whose contended path blocks on an seL4 notification.
//!
//! The uncontended path is one atomic operation. The count starts at 1
//! (free); `lock` decrements and, if the result is negative, waits on the
//! notification; `unlock` increments and, if there were waiters, signals
//! once. A notification's word accumulates signals, so a signal sent before
//! the waiter blocks is not lost. This is the binary-semaphore scheme of
//! seL4's own `sync` library, in the shape of `lock_api::RawMutex`
//! (`lock`/`try_lock`/`unlock`).

#![no_std]

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI64, Ordering};
use sel4::cap_type::Notification;
use sel4::{Cap, MessageInfo};

/// The lock word and its notification.
pub struct RawNotificationMutex {
    ntfn: Cap<Notification>,
    count: AtomicI64,
}

impl RawNotificationMutex {
    /// A free mutex over `ntfn`, which must be used by nothing else.
    pub const fn new(ntfn: Cap<Notification>) -> Self {
        RawNotificationMutex {
            ntfn,
            count: AtomicI64::new(1),
        }
    }

    /// Acquires the lock, blocking in the kernel while it is held.
    pub fn lock(&self) {
        if self.count.fetch_sub(1, Ordering::Acquire) <= 0 {
            // seL4_Wait: Recv on a notification returns when signalled.
            sel4::recv(self.ntfn, &mut [0; 4]);
        }
    }

    /// Acquires the lock if it is free.
    pub fn try_lock(&self) -> bool {
        self.count
            .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock, waking one waiter if any.
    ///
    /// Must be called only by the holder (the guard type ensures it).
    pub fn unlock(&self) {
        if self.count.fetch_add(1, Ordering::Release) < 0 {
            // seL4_Signal: Send on a notification.
            sel4::send(self.ntfn, MessageInfo::new(0, 0, 0, 0), &[0; 4]);
        }
    }
}

/// A mutex protecting a `T`.
pub struct Mutex<T> {
    raw: RawNotificationMutex,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `raw`.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the data.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    pub const fn new(ntfn: Cap<Notification>, value: T) -> Self {
        Mutex {
            raw: RawNotificationMutex::new(ntfn),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks, blocking while another thread holds the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard { m: self }
    }

    /// Locks if free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then_some(MutexGuard { m: self })
    }
}

/// Access to the data while the lock is held.
pub struct MutexGuard<'a, T> {
    m: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.m.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and is borrowed mutably.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.m.raw.unlock();
    }
}
