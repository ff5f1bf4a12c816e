using SmbLayer.Protocol.Dfs;

namespace SmbLayer.Dfs;

/// <summary>
/// DFS path names as MS-DFSC writes them: <c>\server\share[\path]</c>, one leading backslash, components separated by
/// backslashes, compared without regard to case.
/// </summary>
internal static class DfsName
{
    /// <summary><paramref name="path"/>'s server, share and path as a DFS path name.</summary>
    public static string Of(SmbPath path) =>
        path.Path.Length == 0 ? $@"\{path.Host}\{path.Share}" : $@"\{path.Host}\{path.Share}\{path.WirePath}";

    /// <summary>
    /// The server, share and path of <paramref name="dfsPath"/>; a name without a server and a share (a hostile or broken
    /// referral) is an <see cref="SmbProtocolException"/>.
    /// </summary>
    public static (string Server, string Share, string Path) Split(string dfsPath)
    {
        var parts = dfsPath.TrimStart('\\').Split('\\', 3);
        if (parts.Length < 2 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw new SmbProtocolException($"DFS referral target '{dfsPath}' names no server and share (\\server\\share[\\path]).");
        }
        return (parts[0], parts[1], parts.Length > 2 ? parts[2].Replace('\\', '/') : "");
    }

    /// <summary>The DFS path name for messages: <c>\\server\share\path</c>.</summary>
    public static string Unc(string dfsPath) => @"\" + dfsPath;

    /// <summary><paramref name="path"/> with <paramref name="prefix"/> replaced by <paramref name="target"/>.</summary>
    public static string Rebase(string path, int prefixLength, string target) =>
        path.Length == prefixLength ? target.TrimEnd('\\') : target.TrimEnd('\\') + path[prefixLength..];
}

/// <summary>
/// One cached referral (MS-DFSC §3.1.1, ReferralCache): the DFS path prefix it covers, its targets in the server's
/// order, when it expires, and which target calls use now. A target that fails moves every later call to the next
/// one (the target hint is shared, as Windows keeps it per entry).
/// </summary>
internal sealed class DfsCacheEntry
{
    private int _current;
    private volatile bool _stale;

    public DfsCacheEntry(string prefix, IReadOnlyList<string> targets, long expiresAt, bool isRoot, string referrer, int referrerPort)
    {
        Prefix = prefix;
        Targets = targets;
        ExpiresAt = expiresAt;
        IsRoot = isRoot;
        Referrer = referrer;
        ReferrerPort = referrerPort;
    }

    /// <summary>The DFS path this referral covers (<c>\server\share\link</c>), as the server consumed it.</summary>
    public string Prefix { get; }

    /// <summary>Targets (<c>\server\share[\path]</c>) in the server's order.</summary>
    public IReadOnlyList<string> Targets { get; }

    /// <summary>Environment.TickCount64 milliseconds after which the referral is not used (its TTL).</summary>
    public long ExpiresAt { get; }

    /// <summary>A root referral (the namespace's root targets), not a link's.</summary>
    public bool IsRoot { get; }

    /// <summary>The server that gave the referral, asked again to refresh it.</summary>
    public string Referrer { get; }

    public int ReferrerPort { get; }

    /// <summary>The index of the target calls use now.</summary>
    public int CurrentIndex => Volatile.Read(ref _current);

    /// <summary>
    /// The connection to the current target was lost: before its next use the referral is asked for again, since
    /// targets move (it is used as it is when that fails).
    /// </summary>
    public bool Stale
    {
        get => _stale;
        set => _stale = value;
    }

    /// <summary>
    /// Target <paramref name="failed"/> failed: later calls use the next one (unless another call moved on already).
    /// True when that wraps around to the first target: every target has now failed once.
    /// </summary>
    public bool MoveNext(int failed)
    {
        var next = (failed + 1) % Targets.Count;
        Interlocked.CompareExchange(ref _current, next, failed);
        return next == 0;
    }
}

/// <summary>
/// The referral cache: longest-prefix lookup on whole path components, TTLs honoured (an expired referral is not used;
/// the next call that needs it asks again), and a bound on the entries a server can make us keep.
/// </summary>
internal sealed class DfsReferralCache(Func<long>? clock = null, int capacity = DfsReferralCache.DefaultCapacity)
{
    public const int DefaultCapacity = 4096;

    /// <summary>A referral is kept for its TTL, but at least this long (a TTL of 0 must still serve the call that asked).</summary>
    public const int MinTtlSeconds = 1;

    /// <summary>... and at most a day, whatever the server says.</summary>
    public const int MaxTtlSeconds = 86_400;

    private readonly Func<long> _clock = clock ?? (() => Environment.TickCount64);
    private readonly Dictionary<string, DfsCacheEntry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, (IReadOnlyList<string>? Controllers, long ExpiresAt)> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly object _lock = new();
    private int _count;

    /// <summary>How long a name a DC said is no domain of its forest is taken for a server without asking again.</summary>
    public const int NotADomainSeconds = 300;

    /// <summary>
    /// What the domain cache (MS-DFSC §3.1.1, DomainCache) knows of <paramref name="name"/>: true and its domain
    /// controllers, true and null when it is known to be no domain, false when it is not known (or expired).
    /// </summary>
    public bool TryGetDomain(string name, out IReadOnlyList<string>? controllers)
    {
        lock (_lock)
        {
            if (_domains.TryGetValue(name, out var known) && known.ExpiresAt > _clock())
            {
                controllers = known.Controllers;
                return true;
            }
            _domains.Remove(name);
            controllers = null;
            return false;
        }
    }

    /// <summary>Remembers <paramref name="name"/>'s domain controllers (null: it is no domain) for <paramref name="seconds"/>.</summary>
    public void SetDomain(string name, IReadOnlyList<string>? controllers, long seconds)
    {
        var expires = _clock() + (Math.Clamp(seconds, MinTtlSeconds, MaxTtlSeconds) * 1000);
        lock (_lock)
        {
            if (_domains.Count >= capacity && !_domains.ContainsKey(name))
            {
                _domains.Clear(); // a forest has not thousands of domains: this is a flood, and forgetting costs a referral
            }
            _domains[name] = (controllers, expires);
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>
    /// The live referral covering the longest prefix of <paramref name="dfsPath"/> on a component boundary, and the
    /// length of that prefix; null when none covers it.
    /// </summary>
    public DfsCacheEntry? Lookup(string dfsPath)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return null; // no DFS in use: every call asks this, so it costs nothing
        }
        var now = _clock();
        lock (_lock)
        {
            for (var length = dfsPath.Length; length > 0; length = dfsPath.LastIndexOf('\\', length - 1))
            {
                var key = length == dfsPath.Length ? dfsPath : dfsPath[..length];
                if (_entries.TryGetValue(key, out var entry))
                {
                    if (entry.ExpiresAt > now)
                    {
                        return entry;
                    }
                    _entries.Remove(key);
                    Volatile.Write(ref _count, _entries.Count);
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Caches <paramref name="response"/>, the answer to a referral request for <paramref name="requested"/> from
    /// <paramref name="referrer"/>: it covers the prefix the server consumed. A response that covers less than a server
    /// and a share, more than was asked, or ends within a component, or names no target, is an <see cref="SmbProtocolException"/>.
    /// </summary>
    public DfsCacheEntry Add(string requested, DfsReferralResponse response, string referrer, int referrerPort)
    {
        var consumed = response.PathConsumedCharacters;
        // Servers differ on a trailing separator and on counting the terminator; what matters is a whole-component prefix.
        if (consumed > requested.Length && consumed <= requested.Length + 1)
        {
            consumed = requested.Length;
        }
        if (consumed > requested.Length || consumed < 4 || (consumed < requested.Length && requested[consumed] != '\\')
            || requested.AsSpan(1, consumed - 1).IndexOf('\\') < 0)
        {
            throw new SmbProtocolException(
                $"DFS referral for {DfsName.Unc(requested)}: PathConsumed {consumed} characters is not a \\server\\share[\\path] prefix of the path asked for.");
        }
        var targets = new List<string>(response.Entries.Count);
        uint ttl = uint.MaxValue;
        var isRoot = false;
        foreach (var entry in response.Entries)
        {
            if (entry.IsNameList || entry.NetworkAddress.Length == 0)
            {
                continue;
            }
            DfsName.Split(entry.NetworkAddress); // a target that names no server and share fails here, before it is cached
            targets.Add(entry.NetworkAddress.TrimEnd('\\'));
            ttl = Math.Min(ttl, entry.TimeToLive);
            isRoot |= entry.ServerType == DfsServerType.Root;
        }
        if (targets.Count == 0)
        {
            throw new SmbProtocolException($"DFS referral for {DfsName.Unc(requested)} from {referrer} names no target.");
        }
        var seconds = Math.Clamp(ttl == uint.MaxValue ? MinTtlSeconds : (long)ttl, MinTtlSeconds, MaxTtlSeconds);
        var prefix = requested[..consumed];
        var added = new DfsCacheEntry(prefix, targets, _clock() + (seconds * 1000), isRoot, referrer, referrerPort);
        lock (_lock)
        {
            if (_entries.Count >= capacity && !_entries.ContainsKey(prefix))
            {
                Evict();
            }
            _entries[prefix] = added;
            Volatile.Write(ref _count, _entries.Count);
        }
        return added;
    }

    /// <summary>A connection to <paramref name="server"/> was lost: the referrals whose current target is there are asked for again before their next use.</summary>
    public void ServerLost(string server)
    {
        lock (_lock)
        {
            foreach (var entry in _entries.Values)
            {
                var (host, _, _) = DfsName.Split(entry.Targets[entry.CurrentIndex]);
                if (string.Equals(host, server, StringComparison.OrdinalIgnoreCase))
                {
                    entry.Stale = true;
                }
            }
        }
    }

    /// <summary>Drops the expired entries, and if that frees nothing, the one that expires first.</summary>
    private void Evict()
    {
        var now = _clock();
        DfsCacheEntry? first = null;
        foreach (var (key, entry) in _entries)
        {
            if (entry.ExpiresAt <= now)
            {
                _entries.Remove(key);
            }
            else if (first is null || entry.ExpiresAt < first.ExpiresAt)
            {
                first = entry;
            }
        }
        if (_entries.Count >= capacity && first is not null)
        {
            _entries.Remove(first.Prefix);
        }
    }
}
