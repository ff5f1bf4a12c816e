using System.Text;

namespace SmbLayer.IntegrationTests.Dfs;

/// <summary>
/// Domain-based DFS paths (\\domain\namespace, issue 18) through the Samba AD DC with NTLM switched off: the DC referral
/// says the name is a domain and lists its controllers, a controller gives the root referral, and the call goes to the
/// root target by its host name, with Kerberos. The CLI runs as a domain user runs it (the DC's krb5.conf, a ticket cache,
/// the DC's name resolvable; the domain's name is not: nothing here looks it up).
/// </summary>
[Collection(DomainCollection.Name)]
public sealed class DomainDfsTests(DomainFixture fixture) : IAsyncLifetime
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("smb-domain-dfs-").FullName;

    private DomainController Dc => fixture.Dc;

    private string CacheFile => $"FILE:{Path.Combine(_scratch, "cc")}";

    public async Task InitializeAsync()
    {
        if (DomainControllerAvailability.SkipReason is null)
        {
            await Dc.KinitAsync(CacheFile);
        }
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_scratch, recursive: true);
        return Task.CompletedTask;
    }

    private Task<(int ExitCode, byte[] Stdout, string Stderr)> Smb(params string[] args) =>
        Dc.RunSmbAsync(CacheFile, ["-k", "--dc", Dc.Host, .. args]);

    [DomainFact]
    public async Task Sysvol_ByTheDomainsDnsName_ListedAtTheController()
    {
        var domain = Dc.Realm.ToLowerInvariant();
        var ls = await Smb("ls", $"smb://{domain}/sysvol/");
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains($"{domain}/", Encoding.UTF8.GetString(ls.Stdout), StringComparison.Ordinal);

        var deeper = await Smb("ls", "--json", $"smb://{domain}/sysvol/{domain}/");
        Assert.True(deeper.ExitCode == 0, deeper.Stderr);
        var names = System.Text.Json.JsonDocument.Parse(deeper.Stdout).RootElement.GetProperty("entries").EnumerateArray()
            .Select(e => e.GetProperty("name").GetString()).ToList();
        Assert.Contains("Policies", names);
        Assert.Contains("scripts", names);
    }

    [DomainFact]
    public async Task Netlogon_ByTheDomainsNetbiosName()
    {
        var ls = await Smb("ls", $"smb://{Dc.NetbiosDomain}/sysvol/{Dc.Realm.ToLowerInvariant()}/");
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains("Policies/", Encoding.UTF8.GetString(ls.Stdout), StringComparison.Ordinal);
        var netlogon = await Smb("ls", $"smb://{Dc.NetbiosDomain}/netlogon/");
        Assert.True(netlogon.ExitCode == 0, netlogon.Stderr);
    }

    [DomainFact]
    public async Task ANamespaceTheDomainDoesNotHave_Exit5_NamingThePathAndTheController()
    {
        var domain = Dc.Realm.ToLowerInvariant();
        var ls = await Smb("ls", $"smb://{domain}/nothere/");
        Assert.Equal(5, ls.ExitCode);
        Assert.Contains($@"DFS path \\{domain}\nothere", ls.Stderr, StringComparison.Ordinal);
        Assert.Contains($"its controller {Dc.Host} has no namespace 'nothere'", ls.Stderr, StringComparison.Ordinal);
        Assert.Contains("STATUS_NOT_FOUND", ls.Stderr, StringComparison.Ordinal);
    }

    [DomainFact]
    public async Task AServersName_StaysAServer_WithTheDcOptionGiven()
    {
        var name = $"plain-{Guid.NewGuid():N}.txt";
        await File.WriteAllTextAsync(Dc.LocalPath(name), "on the server itself");
        var cat = await Smb("cat", Dc.Url(name));
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.Equal("on the server itself", Encoding.UTF8.GetString(cat.Stdout));
    }

    [DomainFact]
    public async Task WithoutTheDcOption_TheDomainsNameIsTakenForAServer_AndDoesNotResolve()
    {
        var ls = await Dc.RunSmbAsync(CacheFile, ["-k", "ls", $"smb://{Dc.Realm.ToLowerInvariant()}/sysvol/"]);
        Assert.Equal(5, ls.ExitCode);
        Assert.Contains("Cannot connect to", ls.Stderr, StringComparison.Ordinal);
    }
}
