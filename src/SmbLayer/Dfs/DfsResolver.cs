using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Protocol.Dfs;
using SmbLayer.Session;

namespace SmbLayer.Dfs;

/// <summary>
/// Follows DFS (MS-DFSC §3.1.4): runs a file-API call on the share that really holds its path. The path is rewritten
/// through the cached referrals; a server that answers STATUS_PATH_NOT_COVERED is asked for the referral (over its IPC$)
/// and the call goes again, up to <see cref="MaxHops"/> times (a link may lead to another DFS root). A target whose
/// connection, session or share cannot be had gives way to the next in the server's order: in soft mode within the
/// soft timeout, asking the referral once more when every target failed; in hard mode round after round, with a
/// pause, until one answers or the call's time limit or cancellation ends it. A connection lost to a target makes
/// the referrals that led there be asked for again before their next use (targets move).
/// </summary>
internal sealed class DfsResolver(DfsReferralCache cache, ILogger logger)
{
    /// <summary>Referrals one call follows at most; more is a loop.</summary>
    public const int MaxHops = 8;

    /// <summary>Pause between rounds over every target in hard mode, doubling up to <see cref="MaxRoundDelay"/>.</summary>
    public static readonly TimeSpan FirstRoundDelay = TimeSpan.FromMilliseconds(250);

    public static readonly TimeSpan MaxRoundDelay = TimeSpan.FromSeconds(5);

    /// <summary>Gets the share of <c>target</c>: connecting within <c>connectBudget</c> (soft mode), with the host's address override only when <c>direct</c>.</summary>
    public delegate Task<TLease> AcquireShare<TLease>(SmbPath target, TimeSpan? connectBudget, bool direct, CancellationToken cancellationToken);

    /// <summary>Asks <c>server</c> (its IPC$) for the referral of <c>dfsPath</c>, with the host's address override only when <c>direct</c>.</summary>
    public delegate Task<DfsReferralResponse> AskReferral(SmbPath server, string dfsPath, bool direct, CancellationToken cancellationToken);

    public DfsReferralCache Cache { get; } = cache;

    /// <summary>
    /// Runs <paramref name="action"/> on the share that holds <paramref name="path"/>, with the path rewritten for it. The
    /// action owns the lease it is given. Its errors name <paramref name="path"/> when DFS led elsewhere.
    /// </summary>
    public async Task<T> RunAsync<TLease, T>(SmbPath path, CallOptions call, AcquireShare<TLease> acquire, AskReferral ask,
        Func<TLease, SmbPath, Task<T>> action, CancellationToken cancellationToken, string? domainController = null)
    {
        var requested = DfsName.Of(path);
        if (domainController is not null && path.Share.Length > 0 && Cache.Lookup(requested) is null)
        {
            await ResolveDomainRootAsync(path, domainController, ask, cancellationToken).ConfigureAwait(false);
        }
        var attempts = new List<SmbDfsAttempt>();
        var started = Environment.TickCount64;
        var hops = 0;
        var askedAgain = false;
        var pause = FirstRoundDelay;
        var refreshed = new HashSet<DfsCacheEntry>();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (effective, via) = await RewriteAsync(path, requested, ask, refreshed, cancellationToken).ConfigureAwait(false);
            var target = via is null ? path : TargetOf(path, effective);
            TimeSpan? budget = null;
            if (call.SoftLimit is { } soft && via is not null)
            {
                budget = soft - TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
                if (budget <= TimeSpan.Zero)
                {
                    throw Unreachable(path, attempts, $"no target answered within the soft timeout of {soft.TotalSeconds:0.#} s");
                }
            }
            if (call.Expired)
            {
                throw call.DeadlineError($"Following DFS path {path.ToUnc()} ({Tried(attempts)})", attempts.Count == 0 ? null : attempts[^1].Error);
            }
            var index = via?.CurrentIndex ?? 0;
            TLease lease;
            try
            {
                lease = await acquire(target, budget, direct: via is null || SameServer(target, path), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (via is not null && IsTargetFailure(ex) && !cancellationToken.IsCancellationRequested)
            {
                attempts.Add(new SmbDfsAttempt(DfsName.Unc(via.Targets[index]), ex));
                logger.DfsTargetFailed(path.ToUnc(), DfsName.Unc(via.Targets[index]), ex.Message);
                if (!via.MoveNext(index))
                {
                    continue;
                }
                // Every target failed once. Targets move: ask the referral again before giving up (soft) or going round again (hard).
                if (call.SoftLimit is not null)
                {
                    if (askedAgain || !await TryRefreshAsync(path, via, ask, cancellationToken).ConfigureAwait(false))
                    {
                        throw Unreachable(path, attempts, "every target failed");
                    }
                    askedAgain = true;
                    continue;
                }
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
                pause = pause * 2 < MaxRoundDelay ? pause * 2 : MaxRoundDelay;
                await TryRefreshAsync(path, via, ask, cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                return await action(lease, target).ConfigureAwait(false);
            }
            catch (SmbStatusException ex) when (ex.Status == NtStatus.PathNotCovered)
            {
                if (++hops > MaxHops)
                {
                    throw new SmbDfsException(path.ToUnc(),
                        $"{path.ToUnc()}: more than {MaxHops} DFS referrals followed (a loop?); last at {DfsName.Unc(effective)}", attempts, ex);
                }
                await ReferAsync(path, target, effective, ask, attempts, cancellationToken).ConfigureAwait(false);
            }
            catch (SmbException ex) when (via is not null)
            {
                var named = WithDfsPath(ex, path, target);
                if (named is null)
                {
                    throw;
                }
                throw named;
            }
        }
    }

    /// <summary>
    /// <paramref name="requested"/> rewritten through the cache, referral after referral, and the last referral used
    /// (null: no referral covers it). A referral whose target's connection was lost is asked for again first, once a call.
    /// </summary>
    private async Task<(string Effective, DfsCacheEntry? Via)> RewriteAsync(SmbPath path, string requested, AskReferral ask,
        HashSet<DfsCacheEntry> refreshed, CancellationToken cancellationToken)
    {
        var effective = requested;
        DfsCacheEntry? via = null;
        for (var hop = 0; hop <= MaxHops; hop++)
        {
            var entry = Cache.Lookup(effective);
            if (entry is null)
            {
                return (effective, via);
            }
            if (entry.Stale && refreshed.Add(entry))
            {
                entry.Stale = false;
                if (await TryRefreshAsync(path, entry, ask, cancellationToken).ConfigureAwait(false))
                {
                    hop--;
                    continue; // look again: the fresh referral replaced it
                }
            }
            effective = DfsName.Rebase(effective, entry.Prefix.Length, entry.Targets[entry.CurrentIndex]);
            via = entry;
        }
        throw new SmbDfsException(path.ToUnc(), $"{path.ToUnc()}: the cached DFS referrals lead round in a loop (at {DfsName.Unc(effective)})", []);
    }

    /// <summary>
    /// A domain-based namespace (MS-DFSC §3.1.4.1): when <paramref name="domainController"/> says <paramref name="path"/>'s
    /// host is a domain (a DC referral lists its controllers), one of those controllers is asked for the root referral of
    /// <c>\domain\namespace</c>, which is cached like any other; the call then goes to a root target. A host that is no
    /// domain, or a controller that cannot be reached for the question, leaves the path as it is (a server's name).
    /// </summary>
    private async Task ResolveDomainRootAsync(SmbPath path, string domainController, AskReferral ask, CancellationToken cancellationToken)
    {
        var domain = path.Host;
        if (!Cache.TryGetDomain(domain, out var controllers))
        {
            controllers = await AskDomainControllersAsync(path, domainController, ask, cancellationToken).ConfigureAwait(false);
        }
        if (controllers is null)
        {
            return;
        }
        var root = $@"\{domain}\{path.Share}";
        var attempts = new List<SmbDfsAttempt>();
        foreach (var controller in controllers)
        {
            var server = path.At(controller, SmbPath.DefaultPort, "IPC$", "");
            try
            {
                var response = await ask(server, root, SameServer(server, path), cancellationToken).ConfigureAwait(false);
                var entry = Cache.Add(root, response, controller, SmbPath.DefaultPort);
                logger.DfsReferral(DfsName.Unc(entry.Prefix), string.Join(", ", entry.Targets.Select(DfsName.Unc)), (long)(entry.ExpiresAt - Environment.TickCount64) / 1000);
                return;
            }
            catch (Exception ex) when (IsTargetFailure(ex) && !cancellationToken.IsCancellationRequested)
            {
                attempts.Add(new SmbDfsAttempt(@"\\" + controller, ex));
                logger.DfsTargetFailed(path.ToUnc(), @"\\" + controller, ex.Message);
            }
            catch (SmbStatusException ex) when (ex is not SmbAuthenticationException)
            {
                throw new SmbDfsException(path.ToUnc(),
                    $"DFS path {path.ToUnc()}: {domain} is a domain, but its controller {controller} has no namespace '{path.Share}' ({ex.Message})",
                    attempts, ex);
            }
        }
        throw Unreachable(path, attempts, $"no domain controller of {domain} answered");
    }

    /// <summary>
    /// Asks <paramref name="domainController"/> for the DC referral of <paramref name="path"/>'s host: its controllers,
    /// cached for the referral's TTL, or null when it is no domain (cached a while too). Null, not cached, when the
    /// controller cannot be reached: the host is then tried as a server.
    /// </summary>
    private async Task<IReadOnlyList<string>?> AskDomainControllersAsync(SmbPath path, string domainController, AskReferral ask,
        CancellationToken cancellationToken)
    {
        var domain = path.Host;
        var server = path.At(domainController, SmbPath.DefaultPort, "IPC$", "");
        DfsReferralResponse response;
        try
        {
            response = await ask(server, @"\" + domain, SameServer(server, path), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsTargetFailure(ex) && !cancellationToken.IsCancellationRequested)
        {
            logger.DfsRefreshFailed(@"\\" + domain, domainController, ex.Message);
            return null;
        }
        catch (SmbStatusException ex) when (ex is not SmbAuthenticationException)
        {
            Cache.SetDomain(domain, null, DfsReferralCache.NotADomainSeconds); // "no such domain"
            return null;
        }
        var names = response.Entries.Where(e => e.IsNameList).SelectMany(e => e.ExpandedNames)
            .Select(n => n.Trim('\\')).Where(n => n.Length > 0 && n.IndexOf('\\') < 0)
            .Distinct(StringComparer.OrdinalIgnoreCase).Take(64).ToList();
        if (names.Count == 0)
        {
            Cache.SetDomain(domain, null, DfsReferralCache.NotADomainSeconds);
            return null;
        }
        var ttl = response.Entries.Where(e => e.IsNameList).Min(e => (long)e.TimeToLive);
        Cache.SetDomain(domain, names, ttl);
        return names;
    }

    /// <summary><paramref name="path"/> rewritten through the live cached referrals only (no server asked); itself when none covers it.</summary>
    public SmbPath RewriteCached(SmbPath path)
    {
        var effective = DfsName.Of(path);
        var moved = false;
        for (var hop = 0; hop < MaxHops && Cache.Lookup(effective) is { } entry; hop++)
        {
            effective = DfsName.Rebase(effective, entry.Prefix.Length, entry.Targets[entry.CurrentIndex]);
            moved = true;
        }
        return moved ? TargetOf(path, effective) : path;
    }

    /// <summary>Asks the server that answered PATH_NOT_COVERED for the referral of <paramref name="effective"/> and caches it.</summary>
    private async Task ReferAsync(SmbPath path, SmbPath server, string effective, AskReferral ask, List<SmbDfsAttempt> attempts,
        CancellationToken cancellationToken)
    {
        DfsReferralResponse response;
        try
        {
            response = await ask(server, effective, SameServer(server, path), cancellationToken).ConfigureAwait(false);
        }
        catch (SmbException ex)
        {
            throw new SmbDfsException(path.ToUnc(),
                $"{path.ToUnc()}: {server.Host} answered STATUS_PATH_NOT_COVERED for {DfsName.Unc(effective)} but gave no referral for it ({ex.Message})",
                attempts, ex);
        }
        var entry = Cache.Add(effective, response, server.Host, server.Port);
        logger.DfsReferral(DfsName.Unc(entry.Prefix), string.Join(", ", entry.Targets.Select(DfsName.Unc)), (long)(entry.ExpiresAt - Environment.TickCount64) / 1000);
    }

    /// <summary>Asks <paramref name="entry"/>'s referrer for it again; false when that fails (the entry is kept as it is).</summary>
    private async Task<bool> TryRefreshAsync(SmbPath path, DfsCacheEntry entry, AskReferral ask, CancellationToken cancellationToken)
    {
        try
        {
            var server = path.At(entry.Referrer, entry.ReferrerPort, "IPC$", "");
            var response = await ask(server, entry.Prefix, SameServer(server, path), cancellationToken).ConfigureAwait(false);
            var fresh = Cache.Add(entry.Prefix, response, entry.Referrer, entry.ReferrerPort);
            logger.DfsReferral(DfsName.Unc(fresh.Prefix), string.Join(", ", fresh.Targets.Select(DfsName.Unc)), (long)(fresh.ExpiresAt - Environment.TickCount64) / 1000);
            return true;
        }
        catch (Exception ex) when (ex is SmbException or SocketException or IOException && !cancellationToken.IsCancellationRequested)
        {
            logger.DfsRefreshFailed(DfsName.Unc(entry.Prefix), entry.Referrer, ex.Message);
            return false;
        }
    }

    /// <summary>The location of the DFS path name <paramref name="effective"/>, with the caller's credentials; port 445 (referrals carry none) unless on the caller's own server.</summary>
    private static SmbPath TargetOf(SmbPath path, string effective)
    {
        var (server, share, rest) = DfsName.Split(effective);
        var port = string.Equals(server, path.Host, StringComparison.OrdinalIgnoreCase) ? path.Port : SmbPath.DefaultPort;
        return path.At(server, port, share, rest);
    }

    private static bool SameServer(SmbPath a, SmbPath b) =>
        string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    /// <summary>
    /// Errors that rule a target out and let the next one be tried: no connection (refused, reset, timed out), and a
    /// share that is not there. An authentication failure is not one: the same credentials would fail elsewhere too,
    /// and trying them on every server can lock the account.
    /// </summary>
    internal static bool IsTargetFailure(Exception ex) => ex switch
    {
        SmbAuthenticationException => false,
        SmbConnectionException or SmbTimeoutException or SocketException => true,
        IOException { InnerException: SocketException } => true,
        SmbStatusException { Status: NtStatus.BadNetworkName or NtStatus.NetworkNameDeleted or NtStatus.NetworkUnreachable
            or NtStatus.ConnectionRefused or NtStatus.IoTimeout } => true,
        _ => false,
    };

    private static SmbDfsException Unreachable(SmbPath path, List<SmbDfsAttempt> attempts, string why) =>
        new(path.ToUnc(), $"DFS path {path.ToUnc()}: {why}; {Tried(attempts)}", attempts.ToArray(), attempts.Count == 0 ? null : attempts[^1].Error);

    /// <summary>The targets tried, each once with its last error, in the order first tried.</summary>
    private static string Tried(List<SmbDfsAttempt> attempts) => attempts.Count == 0 ? "no target tried"
        : "tried " + string.Join("; ", attempts.GroupBy(a => a.Target, StringComparer.OrdinalIgnoreCase)
            .Select(g => $"{g.Key} ({g.Last().Error.Message})"));

    /// <summary>
    /// <paramref name="error"/> of a call DFS led to <paramref name="target"/>, as the same type with a message that also
    /// names the path the caller gave; null for a type it cannot remake (thrown as it is).
    /// </summary>
    internal static Exception? WithDfsPath(SmbException error, SmbPath path, SmbPath target)
    {
        var where = $"DFS path {path.ToUnc()}, at {target.ToUnc()}";
        return error switch
        {
            SmbKerberosException or SmbDfsException => null,
            SmbStatusException s => SmbStatusException.Create(s.Status, $"{s.What} ({where})", s),
            _ when error.GetType() == typeof(SmbTimeoutException) => new SmbTimeoutException($"{error.Message} ({where})", error),
            _ when error.GetType() == typeof(SmbHandleLostException) => new SmbHandleLostException($"{error.Message} ({where})", error),
            _ when error.GetType() == typeof(SmbOutcomeUnknownException) => new SmbOutcomeUnknownException($"{error.Message} ({where})", error),
            _ when error.GetType() == typeof(SmbProtocolException) => new SmbProtocolException($"{error.Message} ({where})", error),
            _ when error.GetType() == typeof(SmbSecurityException) => new SmbSecurityException($"{error.Message} ({where})", error),
            _ when error.GetType() == typeof(SmbConnectionException) => new SmbConnectionException($"{error.Message} ({where})", error),
            _ => null,
        };
    }
}

internal static partial class DfsLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "DFS referral {Prefix} -> {Targets} (TTL {Ttl} s)")]
    public static partial void DfsReferral(this ILogger logger, string prefix, string targets, long ttl);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DFS path {Path}: target {Target} failed: {Reason}")]
    public static partial void DfsTargetFailed(this ILogger logger, string path, string target, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "DFS referral {Prefix}: asking {Server} again failed ({Reason}); keeping the cached one")]
    public static partial void DfsRefreshFailed(this ILogger logger, string prefix, string server, string reason);
}
