#include "smb2/client/url.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace smbd {
namespace {

absl::StatusOr<std::string> Unescape(absl::string_view s, absl::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) ||
        !absl::ascii_isxdigit(s[i + 2])) {
      return absl::InvalidArgumentError(absl::StrCat("bad percent-escape in the ", what));
    }
    auto hex = [](char c) { return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10; };
    const char c = static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
    if (c == '\0') return absl::InvalidArgumentError(absl::StrCat("NUL in the ", what));
    out.push_back(c);
    i += 2;
  }
  return out;
}

}  // namespace

std::string SmbUrl::SmbPath() const { return absl::StrReplaceAll(path, {{"/", "\\"}}); }

std::string SmbUrl::Redacted() const {
  std::string s = "smb://";
  if (!domain.empty()) absl::StrAppend(&s, domain, ";");
  if (!user.empty()) absl::StrAppend(&s, user, has_password ? ":***" : "", "@");
  const bool v6 = host.find(':') != std::string::npos;
  absl::StrAppend(&s, v6 ? "[" : "", host, v6 ? "]" : "");
  if (port != 0) absl::StrAppend(&s, ":", port);
  absl::StrAppend(&s, "/", share);
  if (!path.empty()) absl::StrAppend(&s, "/", path);
  return s;
}

absl::StatusOr<SmbUrl> ParseSmbUrl(absl::string_view url) {
  constexpr absl::string_view kScheme = "smb://";
  if (url.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(url.substr(0, kScheme.size()), kScheme)) {
    return absl::InvalidArgumentError("URL must start with smb://");
  }
  absl::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash + 1);
  SmbUrl out;

  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t semi = userinfo.find(';');
    if (semi != absl::string_view::npos) {
      auto d = Unescape(userinfo.substr(0, semi), "domain");
      if (!d.ok()) return d.status();
      out.domain = *d;
      userinfo = userinfo.substr(semi + 1);
    }
    const size_t colon = userinfo.find(':');
    auto u = Unescape(userinfo.substr(0, colon), "user name");
    if (!u.ok()) return u.status();
    out.user = *u;
    if (colon != absl::string_view::npos) {
      auto p = Unescape(userinfo.substr(colon + 1), "password");
      if (!p.ok()) return p.status();
      out.password = *p;
      out.has_password = true;
    }
    if (out.user.empty()) return absl::InvalidArgumentError("empty user name before '@'");
  }

  absl::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unterminated '[' in the host");
    }
    out.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("junk after ']' in the host");
      port = after.substr(1);
    }
    if (out.host.find_first_not_of("0123456789abcdefABCDEF:.%") != std::string::npos) {
      return absl::InvalidArgumentError("bad IPv6 address in the host");
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
    for (char c : out.host) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
        return absl::InvalidArgumentError(absl::StrCat("bad character '", std::string(1, c),
                                                       "' in the host name"));
      }
    }
  }
  if (out.host.empty()) return absl::InvalidArgumentError("URL has no host");
  if (!port.empty() || (authority.size() > 0 && authority.back() == ':')) {
    uint32_t p = 0;
    if (port.empty() || port.size() > 5 || !absl::SimpleAtoi(port, &p) || p == 0 || p > 65535) {
      // Not quoted: a "user:password" typed without its '@' lands here.
      return absl::InvalidArgumentError("bad port (a number from 1 to 65535 after the host's ':')");
    }
    out.port = static_cast<uint16_t>(p);
  }

  const size_t share_end = path.find('/');
  auto share = Unescape(path.substr(0, share_end), "share name");
  if (!share.ok()) return share.status();
  out.share = *share;
  if (out.share.empty()) return absl::InvalidArgumentError("URL has no share name");
  if (share_end != absl::string_view::npos) {
    auto p = Unescape(path.substr(share_end + 1), "path");
    if (!p.ok()) return p.status();
    // Collapse empty segments; refuse '..' so that a URL cannot climb out of the share.
    std::string clean;
    for (absl::string_view seg : absl::StrSplit(*p, '/')) {
      if (seg.empty() || seg == ".") continue;
      if (seg == "..") return absl::InvalidArgumentError("'..' is not allowed in the path");
      if (seg.find('\\') != absl::string_view::npos) {
        return absl::InvalidArgumentError("'\\' is not allowed in a path segment");
      }
      if (!clean.empty()) clean.push_back('/');
      absl::StrAppend(&clean, seg);
    }
    out.path = clean;
  }
  return out;
}

std::string RedactUrlText(absl::string_view text) {
  const size_t scheme = text.find("://");
  const size_t start = scheme == absl::string_view::npos ? 0 : scheme + 3;
  size_t end = text.find('/', start);
  if (end == absl::string_view::npos) end = text.size();
  absl::string_view authority = text.substr(start, end - start);
  std::string out(text.substr(0, start));
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    absl::StrAppend(&out, colon == absl::string_view::npos ? userinfo : userinfo.substr(0, colon),
                    colon == absl::string_view::npos ? "" : ":***", authority.substr(at));
  } else {
    const size_t colon = authority.find(':');
    absl::string_view after =
        colon == absl::string_view::npos ? absl::string_view() : authority.substr(colon + 1);
    const bool numeric = std::all_of(after.begin(), after.end(), absl::ascii_isdigit);
    const bool bracketed = !authority.empty() && authority.front() == '[';
    if (colon != absl::string_view::npos && !numeric && !bracketed) {
      absl::StrAppend(&out, authority.substr(0, colon), ":***");
    } else {
      absl::StrAppend(&out, authority);
    }
  }
  absl::StrAppend(&out, text.substr(end));
  return out;
}

std::string EscapeForTerminal(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    const unsigned char next = i + 1 < name.size() ? static_cast<unsigned char>(name[i + 1]) : 0;
    if (c < 0x20 || c == 0x7F || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {
      // U+0080..U+009F in UTF-8: the C1 controls (CSI is U+009B), as dangerous as ESC.
      absl::StrAppendFormat(&out, "\\xc2\\x%02x", next);
      ++i;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

}  // namespace smbd
