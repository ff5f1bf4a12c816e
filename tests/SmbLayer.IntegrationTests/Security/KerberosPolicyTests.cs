namespace SmbLayer.IntegrationTests.Security;

/// <summary>
/// The Kerberos policies against the AD DC variant that still allows NTLM (127.0.0.11): <c>desired</c> falls back to
/// NTLM when Kerberos fails and uses Kerberos when it can, <c>required</c> never falls back, <c>off</c> is NTLM.
/// </summary>
[Collection(NtlmDomainCollection.Name)]
public sealed class KerberosPolicyTests(NtlmDomainFixture fixture) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("smb-krb5-policy-").FullName;

    private DomainController Dc => fixture.Dc;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private async Task<string> NoKdcConfigAsync()
    {
        var config = Path.Combine(_scratch, "krb5-nokdc.conf");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(Dc.Krb5Config)).Replace($"kdc = {Dc.Address}", "kdc = 127.0.0.1:9", StringComparison.Ordinal));
        return config;
    }

    [DomainFact]
    public async Task Desired_KerberosFails_FallsBackToNtlm_Works()
    {
        var name = $"policy-{Guid.NewGuid():N}.txt";
        await File.WriteAllTextAsync(Dc.LocalPath(name), "x");
        var ls = await Dc.RunSmbAsync(null, ["--use-kerberos=desired", "-v", "-U", $"{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()],
            environment: new Dictionary<string, string> { ["KRB5_CONFIG"] = await NoKdcConfigAsync() });
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains(name, System.Text.Encoding.UTF8.GetString(ls.Stdout));
        Assert.Contains("using NTLM", ls.Stderr); // the fallback is logged, with Kerberos' reason
        Assert.Contains("Cannot contact any KDC", ls.Stderr);
    }

    [DomainFact]
    public async Task Required_KerberosFails_NoFallback_Exit3()
    {
        var ls = await Dc.RunSmbAsync(null, ["-k", "-U", $"{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()],
            environment: new Dictionary<string, string> { ["KRB5_CONFIG"] = await NoKdcConfigAsync() });
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("Cannot contact any KDC", ls.Stderr);
    }

    [DomainFact]
    public async Task Off_Ntlm_Works()
    {
        var ls = await Dc.RunSmbAsync(null, ["--use-kerberos=off", "-U", $"{Dc.NetbiosDomain}\\{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()]);
        Assert.True(ls.ExitCode == 0, ls.Stderr);
    }

    [DomainFact]
    public async Task Desired_WithATicket_UsesKerberos()
    {
        var cache = $"FILE:{Path.Combine(_scratch, "cc")}";
        await Dc.KinitAsync(cache);
        // No password anywhere: only the ticket can log on.
        var ls = await Dc.RunSmbAsync(cache, ["--use-kerberos=desired", "-v", "ls", Dc.Url()]);
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains("(Kerberos ticket cache)", ls.Stderr);
        Assert.DoesNotContain("using NTLM", ls.Stderr);
    }
}
