// SPDX-License-Identifier: MIT
#pragma once

/// \file callback_sink.hpp
/// `callback_sink`: hands each dead-letter record to a function of the user's (send it to SQS, to a
/// metrics pipeline, to a test's assertions).

#include "../dead_letter.hpp"
#include "../detail/config.hpp"
#include "../result.hpp"

#include <concepts>
#include <cstdint>
#include <mutex>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>

namespace resilience {

/// Publishes through `F`, called as `fn(const dead_letter_record&)`, which returns one of:
/// - `result<void>`: its failure is the publish's failure;
/// - `bool`: false means the record was not stored (reported as `errc::io_error`);
/// - `std::error_code`: a non-zero code means the record was not stored;
/// - `void`: always stored.
/// If `fn` throws, the publish fails (`errc::io_error`; `errc::not_enough_memory` for std::bad_alloc):
/// `publish` itself never throws.
///
/// Thread safety: calls to `fn` are serialised by a mutex, so `fn` need not be thread-safe; it must not
/// publish to the same sink (that would deadlock). A slow `fn` therefore delays every failing call that
/// publishes concurrently. Non-copyable: held by reference.
template <class F>
class callback_sink {
    static_assert(std::is_invocable_v<F&, const dead_letter_record&>,
                  "resilience::callback_sink<F>: F must be callable as fn(const dead_letter_record&)");
    using ret = std::invoke_result_t<F&, const dead_letter_record&>;
    static_assert(std::is_same_v<ret, result<void>> || std::is_same_v<ret, bool> ||
                      std::is_same_v<ret, std::error_code> || std::is_void_v<ret>,
                  "resilience::callback_sink<F>: F must return result<void>, bool, std::error_code or void");

public:
    explicit callback_sink(F fn) noexcept(std::is_nothrow_move_constructible_v<F>) : fn_(std::move(fn)) {}
    callback_sink(const callback_sink&) = delete;
    callback_sink& operator=(const callback_sink&) = delete;

    result<void> publish(const dead_letter_record& r) {
        std::lock_guard g(m_);
#if RESILIENCE_HAS_EXCEPTIONS
        try {
            return call(r);
        } catch (const std::bad_alloc&) {
            return failure::from_error(std::make_error_code(std::errc::not_enough_memory), transience::transient,
                                       "callback_sink: out of memory");
        } catch (...) {
            return failure::from_error(std::make_error_code(std::errc::io_error), transience::unknown,
                                       "callback_sink: the callback threw an exception");
        }
#else
        return call(r);
#endif
    }

    /// The callback (not synchronised: do not use it while publishes run).
    [[nodiscard]] F& callback() noexcept { return fn_; }

private:
    result<void> call(const dead_letter_record& r) {
        if constexpr (std::is_void_v<ret>) {
            fn_(r);
            return {};
        } else if constexpr (std::is_same_v<ret, bool>) {
            if (fn_(r)) return {};
            return failure::from_error(std::make_error_code(std::errc::io_error), transience::unknown,
                                       "callback_sink: the callback refused the record");
        } else if constexpr (std::is_same_v<ret, std::error_code>) {
            std::error_code ec = fn_(r);
            if (!ec) return {};
            return failure::from_error(ec, transience::unknown, "callback_sink: the callback refused the record");
        } else {
            return fn_(r);
        }
    }

    std::mutex m_;
    F fn_;
};

template <class F>
callback_sink(F) -> callback_sink<F>;

}  // namespace resilience
