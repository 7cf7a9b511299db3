// SPDX-License-Identifier: MIT
#pragma once

/// \file memory_sink.hpp
/// `memory_sink`: keeps dead-letter records in memory. For tests, and for a process that drains its
/// records itself (e.g. returns them as an SQS batch-item-failure list at the end of a Lambda
/// invocation). Not durable: the records die with the process.

#include "../dead_letter.hpp"
#include "../detail/config.hpp"
#include "../detail/validate.hpp"
#include "../result.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace resilience {

/// Configuration of `memory_sink`.
struct memory_sink_options {
    /// Records kept at most; a publish beyond it fails with `errc::no_buffer_space`, so that the call
    /// reports `dead_letter_failed` rather than the process growing without bound. 1 to 100'000'000.
    std::size_t capacity = 100'000;

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (capacity < 1 || capacity > 100'000'000) {
            return config_error{"memory_sink_options.capacity", "memory_sink_options.capacity must be between 1 and 100000000"};
        }
        return std::nullopt;
    }
};

/// Dead-letter records in memory, in publication order.
///
/// Thread safety: every member is thread-safe (one mutex; a publish copies the record outside it and
/// moves it in under it). Non-copyable: it has identity and is held by reference.
class memory_sink {
public:
    /// Precondition: `opts.validate()` holds (throws std::invalid_argument otherwise; aborts without
    /// exceptions).
    explicit memory_sink(memory_sink_options opts = {}) : opts_(opts) { detail::enforce(opts_.validate()); }
    memory_sink(const memory_sink&) = delete;
    memory_sink& operator=(const memory_sink&) = delete;

    /// Stores a copy of `r`. Fails with `errc::no_buffer_space` when `capacity` records are held, and
    /// with `errc::not_enough_memory` when the copy cannot be allocated. Never throws.
    result<void> publish(const dead_letter_record& r) {
#if RESILIENCE_HAS_EXCEPTIONS
        try {
            return publish_unguarded(r);
        } catch (const std::bad_alloc&) {
            std::lock_guard g(m_);
            ++rejected_;
            return failure::from_error(std::make_error_code(std::errc::not_enough_memory), transience::transient,
                                       "memory_sink: out of memory");
        }
#else
        return publish_unguarded(r);
#endif
    }

    /// A copy of the records held, oldest first.
    [[nodiscard]] std::vector<dead_letter_record> records() const {
        std::lock_guard g(m_);
        return records_;
    }
    /// Removes and returns the records held, oldest first.
    [[nodiscard]] std::vector<dead_letter_record> drain() {
        std::lock_guard g(m_);
        return std::exchange(records_, {});
    }
    /// Number of records held.
    [[nodiscard]] std::size_t size() const {
        std::lock_guard g(m_);
        return records_.size();
    }
    /// Drops every record held.
    void clear() {
        std::lock_guard g(m_);
        records_.clear();
    }
    /// Publishes refused since construction (capacity or memory).
    [[nodiscard]] std::uint64_t rejected() const {
        std::lock_guard g(m_);
        return rejected_;
    }

private:
    result<void> publish_unguarded(const dead_letter_record& r) {
        {
            std::lock_guard g(m_);
            if (records_.size() >= opts_.capacity) {
                ++rejected_;
                return failure::from_error(std::make_error_code(std::errc::no_buffer_space), transience::transient,
                                           "memory_sink: capacity reached");
            }
        }
        dead_letter_record copy = r;  // allocate outside the lock
        std::lock_guard g(m_);
        if (records_.size() >= opts_.capacity) {
            ++rejected_;
            return failure::from_error(std::make_error_code(std::errc::no_buffer_space), transience::transient,
                                       "memory_sink: capacity reached");
        }
        records_.push_back(std::move(copy));
        return {};
    }

    memory_sink_options opts_;
    mutable std::mutex m_;
    std::vector<dead_letter_record> records_;
    std::uint64_t rejected_ = 0;
};

static_assert(dead_letter_sink<memory_sink>);

}  // namespace resilience
