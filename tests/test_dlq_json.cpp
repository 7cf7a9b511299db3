// SPDX-License-Identifier: MIT
//
// The small JSON reader and writer behind dead-letter records (resilience/detail/json.hpp): strict
// RFC 8259, exact byte ranges, bounded nesting, canonical base64.
#include "support/catch.hpp"

#include <resilience/detail/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace json = resilience::detail::json;

namespace {
bool valid(std::string_view s) { return json::is_valid(s); }
std::string reason(std::string_view s) {
    json::value v;
    json::error e;
    if (json::parse(s, v, e)) return "";
    return std::string(e.reason) + " @" + std::to_string(e.position);
}
std::string str(std::string_view s) {
    std::string out;
    json::append_string(out, s);
    return out;
}
}  // namespace

TEST_CASE("json: grammar -- what is accepted and what is not") {
    for (const char* ok : {"null", "true", "false", "0", "-0", "1.5", "-12.5e+3", "1E-2", "\"\"", "[]", "{}", " [1, {\"a\": [null]}] ",
                           "\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"", "{\"a\":1,\"a\":2}", "1e999"}) {
        INFO(ok);
        CHECK(valid(ok));
    }
    for (const char* bad : {"", " ", "nul", "True", "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity", "[1,]", "{\"a\":1,}", "{a:1}",
                            "{'a':1}", "[1 2]", "{\"a\" 1}", "\"unterminated", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"\\ud800\\u0041\"", "\"tab\there\"", "1 2", "[", "]", "{\"a\":}", "//c\n1", "\xef\xbb\xbf" "1"}) {
        INFO(bad);
        CHECK_FALSE(valid(bad));
    }
}

TEST_CASE("json: errors say why and where") {
    CHECK(reason("[1,]") == "unexpected character (expected a value) @3");
    CHECK(reason("{\"a\":1 \"b\":2}") == "expected ',' or '}' in an object @7");
    CHECK(reason("\"a\\qb\"") == "invalid escape in a string @2");
    CHECK(reason("\"\xff\"") == "invalid UTF-8 in a string @1");
    CHECK(reason("[1] x") == "unexpected characters after the JSON value @4");
    CHECK(reason("01") == "invalid number (leading zero) @1");
}

TEST_CASE("json: values keep their decoded text and their byte range") {
    const std::string text = R"({"k": [1, "two\n", {"x": -3.5e2}], "u": "\u00e9"})";
    json::value v;
    json::error e;
    REQUIRE(json::parse(text, v, e));
    REQUIRE(v.kind == json::type::object);
    const json::value* k = v.find("k");
    REQUIRE(k != nullptr);
    CHECK(text.substr(k->begin, k->end - k->begin) == R"([1, "two\n", {"x": -3.5e2}])");
    REQUIRE(k->elements.size() == 3);
    CHECK(k->elements[1].text == "two\n");
    CHECK(k->elements[2].find("x")->text == "-3.5e2");
    CHECK(v.find("u")->text == "\xc3\xa9");
    CHECK(v.find("missing") == nullptr);
}

TEST_CASE("json: nesting is bounded") {
    std::string ok = std::string(64, '[') + std::string(64, ']');
    std::string deep = std::string(65, '[') + std::string(65, ']');
    CHECK(valid(ok));
    CHECK(reason(deep) == "nesting too deep @64");
    CHECK(json::is_valid(ok, 63) == false);
}

TEST_CASE("json: UTF-8 validation") {
    CHECK(json::is_valid_utf8("plain ascii"));
    CHECK(json::is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    CHECK(json::is_valid_utf8(std::string_view("\0", 1)));
    for (const char* bad : {"\x80", "\xc0\xaf", "\xc3", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff"}) {
        INFO(bad);
        CHECK_FALSE(json::is_valid_utf8(bad));
    }
}

TEST_CASE("json: strings are escaped onto one line, and read back") {
    CHECK(str("a\"b\\c") == R"("a\"b\\c")");
    CHECK(str("line\nbreak\r\t") == R"("line\nbreak\r\t")");
    CHECK(str(std::string_view("\x01\x1f\x7f", 3)) == R"("\u0001\u001f\u007f")");
    CHECK(str("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
    CHECK(str("bad \xff byte") == "\"bad \xef\xbf\xbd byte\"");
    std::string all;
    for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
    json::value v;
    json::error e;
    REQUIRE(json::parse(str(all), v, e));
    CHECK(v.text == all);
}

TEST_CASE("json: base64 is standard and canonical") {
    auto enc = [](std::string_view s) {
        std::string out;
        json::append_base64(out, s);
        return out;
    };
    CHECK(enc("") == "");
    CHECK(enc("f") == "Zg==");
    CHECK(enc("fo") == "Zm8=");
    CHECK(enc("foo") == "Zm9v");
    CHECK(enc(std::string_view("\x00\xff\xfe", 3)) == "AP/+");
    std::string out;
    CHECK(json::decode_base64("Zm9vYg==", out));
    CHECK(out == "foob");
    for (const char* bad : {"Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v=", "=Zm9", "Zg==Zg==", "Zm-v"}) {
        INFO(bad);
        CHECK_FALSE(json::decode_base64(bad, out));
    }
}

TEST_CASE("json: integer conversions refuse what does not fit") {
    std::uint64_t u = 0;
    std::int64_t i = 0;
    CHECK(json::to_uint64("18446744073709551615", u));
    CHECK(u == std::numeric_limits<std::uint64_t>::max());
    CHECK_FALSE(json::to_uint64("18446744073709551616", u));
    CHECK_FALSE(json::to_uint64("-1", u));
    CHECK_FALSE(json::to_uint64("1.0", u));
    CHECK_FALSE(json::to_uint64("", u));
    CHECK(json::to_int64("-9223372036854775808", i));
    CHECK(i == std::numeric_limits<std::int64_t>::min());
    CHECK_FALSE(json::to_int64("9223372036854775808", i));
    CHECK_FALSE(json::to_int64("1e3", i));
    std::string s;
    json::append_int(s, std::numeric_limits<std::int64_t>::min());
    CHECK(s == "-9223372036854775808");
}
