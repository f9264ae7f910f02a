#pragma once
/// Where a narinfo's `URL` field sends the download, and which URLs are refused. Pure.
///
/// Nix 2.8 (HttpBinaryCacheStore::makeRequest) follows an absolute `http://`, `https://` or `file://` URL
/// as it is and appends anything else to the cache's URL (curl then resolves `..` segments, so
/// `../x` names a file above the cache); a `file://` cache (LocalBinaryCacheStore) only appends. ferry
/// follows absolute http(s) URLs of an http(s) cache as Nix does (caches keep their NARs on other hosts;
/// the signed NarHash and NarSize decide what is accepted, whatever the host), and refuses, with an
/// error naming the URL, what would let a cache reach beyond itself: a `file://` URL (a remote cache
/// must not make ferry read local files; Nix would), any other scheme, an absolute path, a `..` segment
/// (also percent-encoded), and an absolute URL given by a `file://` cache.

#include <string>
#include <string_view>

namespace ferry {

/// The URL to download `nar_url` (a narinfo's URL field) from, for the cache at `cache_url` (no
/// trailing '/'). Throws Error "NAR URL '…' points outside the binary cache" for the URLs refused.
std::string resolve_nar_url(std::string_view cache_url, std::string_view nar_url);

} // namespace ferry
