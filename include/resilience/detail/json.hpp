// SPDX-License-Identifier: MIT
#pragma once

// A small, strict JSON writer and reader (RFC 8259), standard library only.
//
// It exists so that dead-letter records can be written and read back without a JSON library: Lambda
// handlers built with aws-lambda-cpp should not need one. It is not a general-purpose JSON library:
// - the reader builds a small tree (`json::value`) and remembers, for every value, the byte range it
//   came from, so a value embedded verbatim (a JSON payload) is recovered byte for byte;
// - it is strict: no comments, no trailing commas, no NaN, no lone surrogates, strings must be valid
//   UTF-8, nesting is limited (`default_max_depth`) so that hostile input cannot exhaust the stack;
// - numbers are kept as their text; callers convert what they need (`to_uint64`, `to_int64`).
// Errors carry a static reason and the byte offset where parsing stopped.
//
// Thread safety: free functions on caller-owned data. Allocation: the writer appends to a caller's
// std::string; the reader allocates the tree. Neither throws except std::bad_alloc.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace resilience::detail::json {

/// How deep arrays and objects may nest before the reader refuses the input.
inline constexpr std::size_t default_max_depth = 64;

// --- UTF-8 ---------------------------------------------------------------------------------------------

/// Length of the valid UTF-8 sequence starting at `s[i]`, or 0 if it is not one (overlong forms,
/// surrogates and code points above U+10FFFF are invalid).
[[nodiscard]] inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        unsigned char cc = byte(i + k);
        if ((cc & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

/// True when `s` is entirely valid UTF-8.
[[nodiscard]] inline bool is_valid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {  // ASCII runs: the common case, kept tight
            ++i;
            continue;
        }
        std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0u | (cp >> 6));
        out += static_cast<char>(0x80u | (cp & 0x3Fu));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0u | (cp >> 12));
        out += static_cast<char>(0x80u | ((cp >> 6) & 0x3Fu));
        out += static_cast<char>(0x80u | (cp & 0x3Fu));
    } else {
        out += static_cast<char>(0xF0u | (cp >> 18));
        out += static_cast<char>(0x80u | ((cp >> 12) & 0x3Fu));
        out += static_cast<char>(0x80u | ((cp >> 6) & 0x3Fu));
        out += static_cast<char>(0x80u | (cp & 0x3Fu));
    }
}

// --- writer --------------------------------------------------------------------------------------------

/// True for a byte that stands for itself inside a JSON string: printable ASCII other than '"' and '\\'.
[[nodiscard]] constexpr bool is_plain(char ch) noexcept {
    auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

/// Appends `s` as a JSON string literal (with quotes). Control characters are escaped, so the result
/// never contains a raw newline: safe for JSON Lines. Precondition: `s` is valid UTF-8 (bytes that are
/// not are replaced by U+FFFD, so the output is always valid JSON; callers that need the exact bytes
/// check `is_valid_utf8` first and use base64 otherwise).
inline void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        // Runs of printable ASCII that need no escaping are copied at once: payloads are mostly that.
        std::size_t run = i;
        while (run < s.size() && is_plain(s[run])) ++run;
        if (run > i) {
            out.append(s.substr(i, run - i));
            i = run;
            if (i == s.size()) break;
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::size_t n = utf8_sequence_length(s, i);
            if (n == 0) {
                out += "\xEF\xBF\xBD";  // U+FFFD
                ++i;
            } else {
                out.append(s.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    out += '"';
}

/// Appends an unsigned integer in decimal.
inline void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    std::size_t n = 0;
    do {
        buf[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) out += buf[--n];
}

/// Appends a signed integer in decimal.
inline void append_int(std::string& out, std::int64_t v) {
    if (v < 0) {
        out += '-';
        // Negate in unsigned arithmetic: -INT64_MIN overflows in signed.
        append_uint(out, std::uint64_t{0} - static_cast<std::uint64_t>(v));
    } else {
        append_uint(out, static_cast<std::uint64_t>(v));
    }
}

/// Appends the standard base64 encoding (RFC 4648, with padding) of `bytes`.
inline void append_base64(std::string& out, std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        std::uint32_t v = b(i) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        std::uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
}

/// Decodes strict base64 (padding required, no whitespace, canonical trailing bits). Returns false on
/// any deviation; `out` is then unspecified.
[[nodiscard]] inline bool decode_base64(std::string_view text, std::string& out) {
    auto value_of = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    out.clear();
    if (text.size() % 4 != 0) return false;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        int v[4];
        int pad = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            char c = text[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad > 0) return false;  // data after padding
            v[k] = value_of(c);
            if (v[k] < 0) return false;
        }
        auto u = [&](std::size_t k) { return static_cast<std::uint32_t>(v[k]); };
        std::uint32_t bits = (u(0) << 18) | (u(1) << 12) | (u(2) << 6) | u(3);
        out += static_cast<char>((bits >> 16) & 0xFF);
        if (pad < 2) out += static_cast<char>((bits >> 8) & 0xFF);
        if (pad < 1) out += static_cast<char>(bits & 0xFF);
        // Canonical form: the bits dropped by the padding must be zero.
        if (pad == 1 && (bits & 0xFF) != 0) return false;
        if (pad == 2 && (bits & 0xFFFF) != 0) return false;
    }
    return true;
}

// --- reader --------------------------------------------------------------------------------------------

enum class type : std::uint8_t { null, boolean, number, string, array, object };

/// Name of a type, for error messages.
[[nodiscard]] constexpr std::string_view to_string(type t) noexcept {
    switch (t) {
        case type::null: return "null";
        case type::boolean: return "a boolean";
        case type::number: return "a number";
        case type::string: return "a string";
        case type::array: return "an array";
        case type::object: return "an object";
    }
    return "unknown";
}

struct member;

/// A parsed value. `text` holds a string's decoded bytes, a number's literal text, or "true"/"false".
/// `begin`/`end` delimit the value's bytes in the parsed input (for objects/arrays: from the opening to
/// past the closing bracket).
struct value {
    type kind = type::null;
    std::string text;
    std::vector<value> elements;  // arrays
    std::vector<member> members;  // objects, in input order (duplicates kept; callers decide)
    std::size_t begin = 0;
    std::size_t end = 0;

    /// The first member named `key`, or null.
    [[nodiscard]] const value* find(std::string_view key) const noexcept;
};

struct member {
    std::string key;
    std::size_t key_position = 0;
    value val;
};

inline const value* value::find(std::string_view key) const noexcept {
    for (const member& m : members) {
        if (m.key == key) return &m.val;
    }
    return nullptr;
}

/// Why parsing stopped: a static reason and the byte offset in the input.
struct error {
    std::string_view reason{};
    std::size_t position = 0;
};

namespace detail_parser {

class parser {
public:
    parser(std::string_view s, std::size_t max_depth) noexcept : s_(s), max_depth_(max_depth) {}

    bool parse_document(value& out) {
        skip_ws();
        if (!parse_value(out, 0)) return false;
        skip_ws();
        if (i_ != s_.size()) return fail("unexpected characters after the JSON value");
        return true;
    }

    [[nodiscard]] const error& err() const noexcept { return err_; }

private:
    bool fail(std::string_view why) {
        err_ = {why, i_};
        return false;
    }
    bool fail_at(std::string_view why, std::size_t pos) {
        err_ = {why, pos};
        return false;
    }

    void skip_ws() noexcept {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }

    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) return fail("invalid literal (expected true, false or null)");
        i_ += word.size();
        return true;
    }

    bool parse_value(value& out, std::size_t depth) {
        if (i_ >= s_.size()) return fail("unexpected end of input (expected a value)");
        out.begin = i_;
        char c = s_[i_];
        bool ok = false;
        switch (c) {
            case '{': ok = parse_object(out, depth); break;
            case '[': ok = parse_array(out, depth); break;
            case '"':
                out.kind = type::string;
                ok = parse_string(out.text);
                break;
            case 't':
                out.kind = type::boolean;
                out.text = "true";
                ok = literal("true");
                break;
            case 'f':
                out.kind = type::boolean;
                out.text = "false";
                ok = literal("false");
                break;
            case 'n':
                out.kind = type::null;
                ok = literal("null");
                break;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    out.kind = type::number;
                    ok = parse_number(out.text);
                } else {
                    return fail("unexpected character (expected a value)");
                }
        }
        out.end = i_;
        return ok;
    }

    bool parse_object(value& out, std::size_t depth) {
        if (depth + 1 > max_depth_) return fail("nesting too deep");
        out.kind = type::object;
        ++i_;  // '{'
        skip_ws();
        if (i_ < s_.size() && s_[i_] == '}') {
            ++i_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (i_ >= s_.size()) return fail("unexpected end of input in an object");
            if (s_[i_] != '"') return fail("expected a string key in an object");
            member m;
            m.key_position = i_;
            if (!parse_string(m.key)) return false;
            skip_ws();
            if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':' after an object key");
            ++i_;
            skip_ws();
            if (!parse_value(m.val, depth + 1)) return false;
            out.members.push_back(std::move(m));
            skip_ws();
            if (i_ >= s_.size()) return fail("unexpected end of input in an object");
            if (s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (s_[i_] == '}') {
                ++i_;
                return true;
            }
            return fail("expected ',' or '}' in an object");
        }
    }

    bool parse_array(value& out, std::size_t depth) {
        if (depth + 1 > max_depth_) return fail("nesting too deep");
        out.kind = type::array;
        ++i_;  // '['
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ']') {
            ++i_;
            return true;
        }
        for (;;) {
            skip_ws();
            value v;
            if (!parse_value(v, depth + 1)) return false;
            out.elements.push_back(std::move(v));
            skip_ws();
            if (i_ >= s_.size()) return fail("unexpected end of input in an array");
            if (s_[i_] == ',') {
                ++i_;
                continue;
            }
            if (s_[i_] == ']') {
                ++i_;
                return true;
            }
            return fail("expected ',' or ']' in an array");
        }
    }

    bool digits() {
        std::size_t start = i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        return i_ > start;
    }

    bool parse_number(std::string& text) {
        std::size_t start = i_;
        if (s_[i_] == '-') ++i_;
        if (i_ >= s_.size()) return fail("invalid number");
        if (s_[i_] == '0') {
            ++i_;
            if (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') return fail("invalid number (leading zero)");
        } else if (!digits()) {
            return fail("invalid number");
        }
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_;
            if (!digits()) return fail("invalid number (expected digits after '.')");
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (!digits()) return fail("invalid number (expected digits in the exponent)");
        }
        text.assign(s_.substr(start, i_ - start));
        return true;
    }

    bool hex4(std::uint32_t& v) {
        if (s_.size() - i_ < 4) return fail("unexpected end of input in a \\u escape");
        v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            char c = s_[i_ + k];
            std::uint32_t d = 0;
            if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
            else return fail_at("invalid hex digit in a \\u escape", i_ + k);
            v = (v << 4) | d;
        }
        i_ += 4;
        return true;
    }

    bool parse_string(std::string& out) {
        ++i_;  // opening quote
        out.clear();
        for (;;) {
            std::size_t run = i_;
            while (run < s_.size() && is_plain(s_[run])) ++run;
            if (run > i_) {
                out.append(s_.substr(i_, run - i_));
                i_ = run;
            }
            if (i_ >= s_.size()) return fail("unterminated string");
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                ++i_;
                return true;
            }
            if (c < 0x20) return fail("control character in a string (must be escaped)");
            if (c >= 0x80) {
                std::size_t n = utf8_sequence_length(s_, i_);
                if (n == 0) return fail("invalid UTF-8 in a string");
                out.append(s_.substr(i_, n));
                i_ += n;
                continue;
            }
            if (c != '\\') {
                out += static_cast<char>(c);
                ++i_;
                continue;
            }
            ++i_;
            if (i_ >= s_.size()) return fail("unterminated escape in a string");
            char e = s_[i_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    std::size_t at = i_ - 2;
                    std::uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at("lone low surrogate in a \\u escape", at);
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (s_.substr(i_, 2) != "\\u") return fail_at("lone high surrogate in a \\u escape", at);
                        i_ += 2;
                        std::uint32_t lo = 0;
                        if (!hex4(lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF) return fail_at("invalid surrogate pair in a \\u escape", at);
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: return fail_at("invalid escape in a string", i_ - 2);
            }
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::size_t max_depth_;
    error err_{};
};

}  // namespace detail_parser

/// Parses one JSON document (surrounding whitespace allowed). Returns false and sets `err` on failure.
[[nodiscard]] inline bool parse(std::string_view text, value& out, error& err,
                                std::size_t max_depth = default_max_depth) {
    out = value{};
    detail_parser::parser p(text, max_depth);
    if (p.parse_document(out)) return true;
    err = p.err();
    return false;
}

/// True when `text` is exactly one JSON value that `parse` accepts with `max_depth`.
[[nodiscard]] inline bool is_valid(std::string_view text, std::size_t max_depth = default_max_depth) {
    value v;
    error e;
    return parse(text, v, e, max_depth);
}

/// Converts an integer literal (no sign, fraction or exponent) to uint64; false on anything else or
/// on overflow.
[[nodiscard]] inline bool to_uint64(std::string_view text, std::uint64_t& out) noexcept {
    if (text.empty() || text.size() > 20) return false;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

/// Converts an integer literal with an optional '-' to int64; false on anything else or on overflow.
[[nodiscard]] inline bool to_int64(std::string_view text, std::int64_t& out) noexcept {
    bool neg = !text.empty() && text.front() == '-';
    std::uint64_t mag = 0;
    if (!to_uint64(neg ? text.substr(1) : text, mag)) return false;
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (neg) {
        if (mag > max + 1) return false;
        out = mag == max + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(mag);
    } else {
        if (mag > max) return false;
        out = static_cast<std::int64_t>(mag);
    }
    return true;
}

}  // namespace resilience::detail::json
