using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Dfs;
using SmbLayer.Protocol;
using SmbLayer.Protocol.Dfs;
using SmbLayer.Session;

namespace SmbLayer.Tests.Dfs;

/// <summary>
/// The referral cache and the rules for following DFS, with scripted servers: which target a call goes to, in which
/// order targets are tried, when the referral is asked for again, and how a call ends when nothing answers.
/// </summary>
public class DfsResolverTests
{
    private static DfsReferralResponse Referral(string requested, int consumed, uint ttl, params string[] targets) =>
        new(consumed, DfsReferralHeaderFlags.StorageServers,
            targets.Select(t => new DfsReferralEntry { Version = 3, ServerType = DfsServerType.NonRoot, TimeToLive = ttl, DfsPath = requested[..consumed], NetworkAddress = t }).ToList());

    /// <summary>Scripted servers: which shares answer, and what each server refers.</summary>
    private sealed class Namespace
    {
        public readonly HashSet<string> Down = new(StringComparer.OrdinalIgnoreCase);
        public readonly Dictionary<string, Func<string, DfsReferralResponse>> Links = new(StringComparer.OrdinalIgnoreCase);
        public readonly List<string> Acquired = [];
        public readonly List<string> Asked = [];
        public readonly List<string> Ran = [];

        public Task<string> AcquireAsync(SmbPath target, TimeSpan? budget, bool direct, CancellationToken ct)
        {
            bool down;
            lock (Acquired)
            {
                Acquired.Add($@"\{target.Host}\{target.Share}");
                down = Down.Contains(target.Host);
            }
            return down
                ? Task.FromException<string>(new SmbConnectionException($"Connecting to {target.Host}:{target.Port}: refused", new SocketException(111)))
                : Task.FromResult($@"\{target.Host}\{target.Share}");
        }

        /// <summary>Domains the DCs know, with their controllers (a DC referral for \\domain lists them).</summary>
        public readonly Dictionary<string, string[]> Domains = new(StringComparer.OrdinalIgnoreCase);

        public Task<DfsReferralResponse> AskAsync(SmbPath server, string dfsPath, bool direct, CancellationToken ct)
        {
            Asked.Add($"{server.Host}:{dfsPath}");
            if (dfsPath.LastIndexOf('\\') == 0)
            {
                return Domains.TryGetValue(dfsPath[1..], out var controllers)
                    ? Task.FromResult(new DfsReferralResponse(0, DfsReferralHeaderFlags.None,
                        [new DfsReferralEntry { Version = 3, Flags = DfsReferral.NameListReferral, TimeToLive = 600, SpecialName = dfsPath,
                            ExpandedNames = controllers.Select(c => @"\" + c).ToList() }]))
                    : Task.FromException<DfsReferralResponse>(new SmbNotFoundException(NtStatus.NotFound, $"Referral of {dfsPath}"));
            }
            foreach (var (prefix, refer) in Links.OrderByDescending(l => l.Key.Length))
            {
                if (dfsPath.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && (dfsPath.Length == prefix.Length || dfsPath[prefix.Length] == '\\'))
                {
                    return Task.FromResult(refer(dfsPath));
                }
            }
            return Task.FromException<DfsReferralResponse>(new SmbNotFoundException(NtStatus.NotFound, $"Referral of {dfsPath}"));
        }

        /// <summary>The action: a path under a link prefix is not covered on the server that holds the link.</summary>
        public Task<string> RunAsync(string lease, SmbPath at)
        {
            var dfs = DfsName.Of(at);
            if (Links.Keys.Any(prefix => dfs.StartsWith(prefix + @"\", StringComparison.OrdinalIgnoreCase) || dfs.Equals(prefix, StringComparison.OrdinalIgnoreCase)))
            {
                throw new SmbStatusException(NtStatus.PathNotCovered, $"Opening '{at.Path}'");
            }
            Ran.Add(dfs);
            return Task.FromResult(dfs);
        }

        public void Link(string prefix, uint ttl, params string[] targets) =>
            Links[prefix] = requested => Referral(requested, prefix.Length, ttl, targets);
    }

    private static (DfsResolver Resolver, Func<long> Clock, Action<long> Advance) NewResolver()
    {
        long now = 1_000_000;
        var cache = new DfsReferralCache(() => now);
        return (new DfsResolver(cache, NullLogger.Instance), () => now, ms => now += ms);
    }

    private static Task<string> Run(DfsResolver resolver, Namespace ns, string url, CallOptions? call = null, CancellationToken ct = default) =>
        resolver.RunAsync<string, string>(SmbPath.Parse(url), call ?? CallOptions.Soft(TimeSpan.FromSeconds(30)), ns.AcquireAsync, ns.AskAsync, ns.RunAsync, ct);

    [Fact]
    public async Task NoDfs_TheCallRunsWhereItWasAimed_NoReferralAsked()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        Assert.Equal(@"\srv\share\a\b.txt", await Run(resolver, ns, "smb://srv/share/a/b.txt"));
        Assert.Empty(ns.Asked);
    }

    [Fact]
    public async Task PathNotCovered_AsksTheServerThatSaidSo_RewritesThePath_AndCaches()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\t1\share\base");
        Assert.Equal(@"\t1\share\base\x\y.txt", await Run(resolver, ns, "smb://root/dfs/link/x/y.txt"));
        Assert.Equal([@"root:\root\dfs\link\x\y.txt"], ns.Asked);
        // Another path under the link: from the cache, no new referral, straight to the target.
        ns.Acquired.Clear();
        Assert.Equal(@"\t1\share\base\z", await Run(resolver, ns, "smb://root/dfs/LINK/z"));
        Assert.Single(ns.Asked);
        Assert.Equal([@"\t1\share"], ns.Acquired);
    }

    [Fact]
    public async Task Ttl_AnExpiredReferralIsNotUsed_TheNextCallAsksAgain()
    {
        var (resolver, _, advance) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 60, @"\t1\share");
        await Run(resolver, ns, "smb://root/dfs/link/f");
        advance(59_000);
        await Run(resolver, ns, "smb://root/dfs/link/f");
        Assert.Single(ns.Asked);
        advance(1_000);
        ns.Link(@"\root\dfs\link", 60, @"\t2\share");
        Assert.Equal(@"\t2\share\f", await Run(resolver, ns, "smb://root/dfs/link/f"));
        Assert.Equal(2, ns.Asked.Count);
    }

    [Fact]
    public async Task Failover_TargetsInTheServersOrder_TheOneThatWorksIsRemembered()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\a\s", @"\b\s", @"\c\s");
        ns.Down.UnionWith(["a", "b"]);
        Assert.Equal(@"\c\s\f", await Run(resolver, ns, "smb://root/dfs/link/f"));
        Assert.Equal([@"\root\dfs", @"\a\s", @"\b\s", @"\c\s"], ns.Acquired);
        ns.Acquired.Clear();
        await Run(resolver, ns, "smb://root/dfs/link/g");
        Assert.Equal([@"\c\s"], ns.Acquired);
    }

    [Fact]
    public async Task EveryTargetDown_Soft_OneRoundAskOnceMoreOneRound_ThenSmbDfsExceptionNamingPathAndTargets()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\a\s", @"\b\s");
        ns.Down.UnionWith(["a", "b"]);
        var error = await Assert.ThrowsAsync<SmbDfsException>(() => Run(resolver, ns, "smb://root/dfs/link/f"));
        Assert.Equal(@"\\root\dfs\link\f", error.DfsPath);
        Assert.Equal([@"\\a\s", @"\\b\s", @"\\a\s", @"\\b\s"], error.Attempts.Select(a => a.Target));
        Assert.Equal(2, ns.Asked.Count);
        Assert.Contains(@"DFS path \\root\dfs\link\f", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\a\s (", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\b\s (", error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<SmbConnectionException>(error); // exit code 5
    }

    [Fact]
    public async Task EveryTargetDown_Soft_TheReferralAskedAgainNamesANewTarget_ItIsTried()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        var asked = 0;
        ns.Links[@"\root\dfs\link"] = requested => Referral(requested, @"\root\dfs\link".Length, 300, ++asked == 1 ? @"\a\s" : @"\moved\s");
        ns.Down.Add("a");
        Assert.Equal(@"\moved\s\f", await Run(resolver, ns, "smb://root/dfs/link/f"));
    }

    [Fact]
    public async Task EveryTargetDown_Hard_RoundAfterRound_UntilTheCallsTimeLimit()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\a\s", @"\b\s");
        ns.Down.UnionWith(["a", "b"]);
        var call = new CallOptions(SmbFailureMode.Hard, TimeSpan.Zero, TimeSpan.FromMilliseconds(1200)).Begin();
        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => Run(resolver, ns, "smb://root/dfs/link/f", call));
        Assert.Contains(@"\\a\s", error.Message, StringComparison.Ordinal);
        Assert.Contains(@"\\b\s", error.Message, StringComparison.Ordinal);
        Assert.True(ns.Acquired.Count(a => a == @"\a\s") >= 2, string.Join(", ", ns.Acquired)); // it went round again
    }

    [Fact]
    public async Task EveryTargetDown_Hard_ATargetThatComesBackServes()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\a\s");
        ns.Down.Add("a");
        var run = Run(resolver, ns, "smb://root/dfs/link/f", CallOptions.Hard);
        int Tries()
        {
            lock (ns.Acquired)
            {
                return ns.Acquired.Count(a => a == @"\a\s");
            }
        }
        for (var i = 0; i < 3000 && Tries() < 2; i++)
        {
            await Task.Delay(10);
        }
        lock (ns.Acquired)
        {
            ns.Down.Remove("a");
        }
        Assert.Equal(@"\a\s\f", await run.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task AuthenticationFailure_IsNotAFailover()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\a\s", @"\b\s");
        var acquire = (SmbPath t, TimeSpan? b, bool d, CancellationToken c) => t.Host == "a"
            ? Task.FromException<string>(new SmbAuthenticationException(NtStatus.LogonFailure, "Session setup"))
            : ns.AcquireAsync(t, b, d, c);
        await Assert.ThrowsAsync<SmbAuthenticationException>(() => resolver.RunAsync<string, string>(SmbPath.Parse("smb://root/dfs/link/f"),
            CallOptions.Soft(TimeSpan.FromSeconds(30)), new DfsResolver.AcquireShare<string>(acquire), ns.AskAsync, ns.RunAsync, default));
    }

    [Fact]
    public async Task LinkToAnotherRoot_FollowedReferralAfterReferral_ThenFromTheCache()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\root2\dfs2");
        ns.Link(@"\root2\dfs2\inner", 300, @"\t\share\sub");
        Assert.Equal(@"\t\share\sub\f", await Run(resolver, ns, "smb://root/dfs/link/inner/f"));
        Assert.Equal([@"root:\root\dfs\link\inner\f", @"root2:\root2\dfs2\inner\f"], ns.Asked);
        Assert.Equal(@"\t\share\sub\g", await Run(resolver, ns, "smb://root/dfs/link/inner/g"));
        Assert.Equal(2, ns.Asked.Count);
    }

    [Fact]
    public async Task ReferralLoop_EndsAfterMaxHops_WithSmbDfsException()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        // Each referral consumes only \root\dfs\link and points back into the namespace: a server that refers in a circle.
        ns.Link(@"\root\dfs\link", 300, @"\root\dfs\link\again");
        var error = await Assert.ThrowsAsync<SmbDfsException>(() => Run(resolver, ns, "smb://root/dfs/link/f"));
        Assert.Contains("loop", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerLost_TheReferralsLeadingThereAreAskedAgain_BeforeTheirNextUse()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\t1\share");
        await Run(resolver, ns, "smb://root/dfs/link/f");
        ns.Link(@"\root\dfs\link", 300, @"\t2\share");
        Assert.Equal(@"\t1\share\f", await Run(resolver, ns, "smb://root/dfs/link/f")); // the TTL holds it
        resolver.Cache.ServerLost("other");
        Assert.Equal(@"\t1\share\f", await Run(resolver, ns, "smb://root/dfs/link/f"));
        resolver.Cache.ServerLost("T1");
        Assert.Equal(@"\t2\share\f", await Run(resolver, ns, "smb://root/dfs/link/f"));
        Assert.Equal(2, ns.Asked.Count);
    }

    [Fact]
    public async Task NoReferralForAPathNotCovered_SmbDfsExceptionNamingTheServer()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        var error = await Assert.ThrowsAsync<SmbDfsException>(() => resolver.RunAsync<string, string>(SmbPath.Parse("smb://root/dfs/x"),
            CallOptions.Soft(TimeSpan.FromSeconds(30)), ns.AcquireAsync, ns.AskAsync,
            (_, at) => throw new SmbStatusException(NtStatus.PathNotCovered, "Opening"), default));
        Assert.Contains("root answered STATUS_PATH_NOT_COVERED", error.Message, StringComparison.Ordinal);
        Assert.Contains("STATUS_NOT_FOUND", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ErrorsBehindALink_KeepTheirType_AndNameTheCallersPath()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Link(@"\root\dfs\link", 300, @"\t\share");
        var first = true;
        var error = await Assert.ThrowsAsync<SmbNotFoundException>(() => resolver.RunAsync<string, string>(SmbPath.Parse("smb://root/dfs/link/none"),
            CallOptions.Soft(TimeSpan.FromSeconds(30)), ns.AcquireAsync, ns.AskAsync, (lease, at) =>
            {
                if (first)
                {
                    first = false;
                    throw new SmbStatusException(NtStatus.PathNotCovered, "Opening");
                }
                throw SmbStatusException.Create(NtStatus.ObjectNameNotFound, $"Opening '{at.Path}'");
            }, default));
        Assert.Equal(NtStatus.ObjectNameNotFound, error.Status);
        Assert.Equal(@"Opening 'none' (DFS path \\root\dfs\link\none, at \\t\share\none): STATUS_OBJECT_NAME_NOT_FOUND (0xC0000034)", error.Message);
    }

    [Fact]
    public async Task DomainNamespace_DcReferral_ThenRootReferralFromAController_ThenTheRootTarget()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Domains["corp.example"] = ["dc2.corp.example", "dc1.corp.example"];
        ns.Down.Add("dc2.corp.example");
        ns.Link(@"\corp.example\ns", 300, @"\fs1\ns");
        Task<string> Call(string url) => resolver.RunAsync<string, string>(SmbPath.Parse(url), CallOptions.Soft(TimeSpan.FromSeconds(30)),
            ns.AcquireAsync, async (server, path, direct, ct) =>
            {
                await ns.AcquireAsync(server, null, direct, ct); // the referral goes over a connection too
                return await ns.AskAsync(server, path, direct, ct);
            }, ns.RunAsync, default, domainController: "dc1.corp.example");

        Assert.Equal(@"\fs1\ns\dir\f", await Call("smb://corp.example/ns/dir/f"));
        Assert.Equal([@"dc1.corp.example:\corp.example", @"dc1.corp.example:\corp.example\ns"], ns.Asked);
        Assert.Equal([@"\dc1.corp.example\IPC$", @"\dc2.corp.example\IPC$", @"\dc1.corp.example\IPC$", @"\fs1\ns"], ns.Acquired);
        // Cached: the domain, and the root referral.
        Assert.Equal(@"\fs1\ns\g", await Call("smb://corp.example/ns/g"));
        Assert.Equal(2, ns.Asked.Count);
        // A server's name: the DC says it is no domain, once.
        Assert.Equal(@"\fs1\share\h", await Call("smb://fs1/share/h"));
        Assert.Equal(@"\fs1\share\i", await Call("smb://fs1/share/i"));
        Assert.Equal(3, ns.Asked.Count);
        Assert.Equal(@"dc1.corp.example:\fs1", ns.Asked[2]);
    }

    [Fact]
    public async Task DomainNamespace_TheControllersHaveNoSuchNamespace_SmbDfsException()
    {
        var (resolver, _, _) = NewResolver();
        var ns = new Namespace();
        ns.Domains["corp.example"] = ["dc1.corp.example"];
        var error = await Assert.ThrowsAsync<SmbDfsException>(() => resolver.RunAsync<string, string>(SmbPath.Parse("smb://corp.example/none/f"),
            CallOptions.Soft(TimeSpan.FromSeconds(30)), ns.AcquireAsync, ns.AskAsync, ns.RunAsync, default, domainController: "dc1.corp.example"));
        Assert.Contains("corp.example is a domain, but its controller dc1.corp.example has no namespace 'none'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(@"\root\dfs\link\f", 3)] // shorter than \server\share
    [InlineData(@"\root\dfs\link\f", 11)] // ends inside "link"
    [InlineData(@"\root\dfs\link\f", 40)] // past the path
    [InlineData(@"\root\dfs\link\f", 5)] // \root: no share
    public void Cache_RefusesAPathConsumedThatIsNoPrefix(string requested, int consumed)
    {
        var cache = new DfsReferralCache();
        Assert.Throws<SmbProtocolException>(() => cache.Add(requested, Referral(requested, Math.Min(consumed, requested.Length), 300, @"\t\s") with
        {
            PathConsumedCharacters = consumed,
        }, "root", 445));
    }

    [Theory]
    [InlineData("")]
    [InlineData(@"\")]
    [InlineData(@"\onlyserver")]
    [InlineData(@"\\share")]
    public void Cache_RefusesATargetWithoutServerAndShare(string target)
    {
        var cache = new DfsReferralCache();
        Assert.Throws<SmbProtocolException>(() => cache.Add(@"\root\dfs\link", Referral(@"\root\dfs\link", 14, 300, target), "root", 445));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Cache_LongestPrefixOnWholeComponents_AndBoundedInSize()
    {
        long now = 0;
        var cache = new DfsReferralCache(() => now, capacity: 3);
        cache.Add(@"\r\d\a", Referral(@"\r\d\a", 6, 300, @"\t\one"), "r", 445);
        cache.Add(@"\r\d\a\b", Referral(@"\r\d\a\b", 8, 300, @"\t\two"), "r", 445);
        Assert.Equal(@"\r\d\a\b", cache.Lookup(@"\r\d\a\b\c")!.Prefix);
        Assert.Equal(@"\r\d\a", cache.Lookup(@"\r\d\a\bc")!.Prefix); // "bc" is not "b"
        Assert.Null(cache.Lookup(@"\r\d\ab"));
        for (var i = 0; i < 10; i++)
        {
            now += 1000;
            cache.Add($@"\r\d\x{i}", Referral($@"\r\d\x{i}", $@"\r\d\x{i}".Length, 300, @"\t\s"), "r", 445);
        }
        Assert.Equal(3, cache.Count);
        Assert.NotNull(cache.Lookup(@"\r\d\x9\f")); // the newest stay
    }

    [Fact]
    public void Cache_TtlZero_IsKeptAMoment_ATtlOfYears_ADayAtMost()
    {
        long now = 0;
        var cache = new DfsReferralCache(() => now);
        var brief = cache.Add(@"\r\d\a", Referral(@"\r\d\a", 6, 0, @"\t\s"), "r", 445);
        Assert.Equal(DfsReferralCache.MinTtlSeconds * 1000, brief.ExpiresAt);
        var forever = cache.Add(@"\r\d\b", Referral(@"\r\d\b", 6, uint.MaxValue - 1, @"\t\s"), "r", 445);
        Assert.Equal(DfsReferralCache.MaxTtlSeconds * 1000L, forever.ExpiresAt);
    }
}
