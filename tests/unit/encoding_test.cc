// toHex, base64 and quoteForLog.
#include "common/encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace rx {
namespace {

// Bytes 0, 7, 14, ... so every length covers non-ASCII and NUL bytes.
std::string sampleBytes(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>((i * 7 + 0xf0) & 0xff));
  return out;
}

TEST(ToHex, EncodesLowercaseTwoDigitsPerByte) {
  EXPECT_EQ(toHex(""), "");
  EXPECT_EQ(toHex(std::string("\x00\x01\x7f\x80\xff", 5)), "00017f80ff");
  EXPECT_EQ(toHex("AZ"), "415a");
  EXPECT_EQ(toHex("\xab\xcd\xef"), "abcdef");
}

TEST(Base64, KnownVectors) {
  // RFC 4648 section 10.
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Decode("Zg=="), "f");
  EXPECT_EQ(base64Decode("Zm8="), "fo");
  EXPECT_EQ(base64Decode("Zm9vYmFy"), "foobar");
}

TEST(Base64, UsesTheStandardAlphabet) {
  EXPECT_EQ(base64Encode("\xfb\xff\xbf"), "+/+/");
  EXPECT_EQ(base64Decode("+/+/"), std::string("\xfb\xff\xbf"));
}

TEST(Base64, RoundTripForLengths0To40) {
  for (size_t n = 0; n <= 40; ++n) {
    const std::string data = sampleBytes(n);
    const std::string text = base64Encode(data);
    EXPECT_EQ(text.size(), 4 * ((n + 2) / 3)) << "length " << n;
    if (n == 0) continue;  // the empty string is not a key; decoding it is refused (below)
    const auto decoded = base64Decode(text);
    ASSERT_TRUE(decoded.has_value()) << "length " << n << ": " << text;
    EXPECT_EQ(*decoded, data) << "length " << n;
  }
}

TEST(Base64, EmptyInputIsRefused) { EXPECT_FALSE(base64Decode("").has_value()); }

TEST(Base64, LengthNotAMultipleOfFourIsRefused) {
  EXPECT_FALSE(base64Decode("Z").has_value());
  EXPECT_FALSE(base64Decode("Zg").has_value());
  EXPECT_FALSE(base64Decode("Zg=").has_value());
  EXPECT_FALSE(base64Decode("Zm9vY").has_value());
}

TEST(Base64, CharactersOutsideTheAlphabetAreRefused) {
  EXPECT_FALSE(base64Decode("Zm9*").has_value());
  EXPECT_FALSE(base64Decode("Zm9v YmFy").has_value());
  EXPECT_FALSE(base64Decode("Zm9\n").has_value());
  EXPECT_FALSE(base64Decode("Zm-_").has_value());  // URL-safe alphabet
  EXPECT_FALSE(base64Decode(std::string("Zm9\0", 4)).has_value());
  EXPECT_FALSE(base64Decode("Zm9\xc3").has_value());
}

TEST(Base64, MisplacedPaddingIsRefused) {
  // encoding.h: "nullopt on any character outside the alphabet or bad padding".
  EXPECT_FALSE(base64Decode("====").has_value());
  EXPECT_FALSE(base64Decode("A===").has_value());
  EXPECT_FALSE(base64Decode("=AAA").has_value());
  EXPECT_FALSE(base64Decode("AA=A").has_value());
  EXPECT_FALSE(base64Decode("Zg==Zm9v").has_value());
}

TEST(QuoteForLog, QuotesPrintableText) {
  EXPECT_EQ(quoteForLog(""), "\"\"");
  EXPECT_EQ(quoteForLog("ls -l /tmp"), "\"ls -l /tmp\"");
}

TEST(QuoteForLog, EscapesQuotesAndBackslashes) {
  EXPECT_EQ(quoteForLog("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(quoteForLog("a\\b"), "\"a\\\\b\"");
}

TEST(QuoteForLog, EscapesControlAndNonAsciiBytesAsHex) {
  EXPECT_EQ(quoteForLog("a\nb"), "\"a\\x0ab\"");
  EXPECT_EQ(quoteForLog(std::string("\0", 1)), "\"\\x00\"");
  EXPECT_EQ(quoteForLog("\x1b[31m"), "\"\\x1b[31m\"");
  EXPECT_EQ(quoteForLog("\x7f"), "\"\\x7f\"");
  EXPECT_EQ(quoteForLog("\xc3\xa9"), "\"\\xc3\\xa9\"");
}

}  // namespace
}  // namespace rx
