// Small text helpers shared by the converters: UTF-8 checks and encoding, and
// turning arbitrary raw ids into ids the behaviour-log formats accept.
#ifndef DIPS_TOOLS_TEXT_UTIL_H_
#define DIPS_TOOLS_TEXT_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace dips {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Appends the UTF-8 encoding of `code_point`; surrogates and values above
// U+10FFFF become U+FFFD.
void AppendUtf8(uint32_t code_point, std::string* out);

// Reads each byte of `bytes` as a Latin-1 character and encodes it as UTF-8.
std::string Latin1ToUtf8(std::string_view bytes);

// Makes `raw` usable as an id in docs/log_format.md: the bytes TAB, 0x02, CR,
// LF and NUL (which would break the line structure) become '_'; if the result
// is not valid UTF-8 each byte >= 0x80 is re-read as Latin-1, so the id stays
// a deterministic function of the input. Empty stays empty (callers decide).
std::string SanitizeId(std::string_view raw);

}  // namespace dips

#endif  // DIPS_TOOLS_TEXT_UTIL_H_
