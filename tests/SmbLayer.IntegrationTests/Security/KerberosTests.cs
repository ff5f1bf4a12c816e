using System.Net;
using System.Security.Cryptography;
using System.Text;
using SmbLayer.IntegrationTests.Faults;

namespace SmbLayer.IntegrationTests.Security;

/// <summary>
/// Kerberos against a Samba AD DC with NTLM switched off (issue 17), through the shipped CLI as a domain user runs it:
/// the DC's krb5.conf, a private ticket cache, and the DC's name resolvable in the CLI's own mount namespace.
/// </summary>
[Collection(DomainCollection.Name)]
public sealed class KerberosTests(DomainFixture fixture) : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("smb-krb5-").FullName;

    private DomainController Dc => fixture.Dc;

    private string Cache(string name) => $"FILE:{Path.Combine(_scratch, name)}";

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    [DomainTheory]
    [InlineData("--sign")]
    [InlineData("--encrypt")]
    public async Task AfterKinit_LsCatPutGet_ByteExact(string protection)
    {
        var cache = Cache("kinit");
        await Dc.KinitAsync(cache);
        var name = $"krb5-{protection.TrimStart('-')}-{Guid.NewGuid():N}.bin";
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var source = Path.Combine(_scratch, "up.bin");
        await File.WriteAllBytesAsync(source, data);

        var put = await Dc.RunSmbAsync(cache, ["-k", protection, "put", source, Dc.Url(name)]);
        Assert.True(put.ExitCode == 0, put.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(Dc.LocalPath(name)));

        var ls = await Dc.RunSmbAsync(cache, ["-k", protection, "ls", Dc.Url()]);
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains(name, Text(ls.Stdout));

        var cat = await Dc.RunSmbAsync(cache, ["-k", protection, "cat", Dc.Url(name)]);
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.Equal(data, cat.Stdout);

        var target = Path.Combine(_scratch, "down.bin");
        var get = await Dc.RunSmbAsync(cache, ["-k", protection, "get", Dc.Url(name), target]);
        Assert.True(get.ExitCode == 0, get.Stderr);
        Assert.Equal(data, await File.ReadAllBytesAsync(target));
    }

    [DomainFact]
    public async Task NoCache_UserAndPassword_LsWorks_AndNothingIsWrittenToTheCache()
    {
        var name = $"krb5-pw-{Guid.NewGuid():N}.txt";
        await File.WriteAllTextAsync(Dc.LocalPath(name), "x");
        var cache = Cache("untouched");
        var ls = await Dc.RunSmbAsync(cache, ["-k", "-U", $"{Dc.NetbiosDomain}\\{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()]);
        Assert.True(ls.ExitCode == 0, ls.Stderr);
        Assert.Contains(name, Text(ls.Stdout));
        Assert.False(File.Exists(Path.Combine(_scratch, "untouched")), "the ticket got with the password went to the user's cache");
    }

    [DomainFact]
    public async Task NameThatDoesNotResolve_IpAddressOption_ConnectsThereAndUsesTheName()
    {
        var cache = Cache("minus-i");
        await Dc.KinitAsync(cache);
        var plain = Path.Combine(_scratch, "hosts-plain"); // the system's names only: the DC's does not resolve
        File.Copy("/etc/hosts", plain);
        var unresolved = await Dc.RunSmbAsync(cache, ["-k", "ls", Dc.Url()], hostsFile: plain);
        Assert.NotEqual(0, unresolved.ExitCode);
        var ls = await Dc.RunSmbAsync(cache, ["-k", "-I", Dc.Address, "ls", Dc.Url()], hostsFile: plain);
        Assert.True(ls.ExitCode == 0, ls.Stderr);
    }

    [DomainFact]
    public async Task KerberosOff_NtlmBlocked_Exit3_NamingIt()
    {
        var ls = await Dc.RunSmbAsync(null, ["--use-kerberos=off", "-U", $"{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("STATUS_NTLM_BLOCKED", ls.Stderr);
        Assert.Contains("refuses NTLM", ls.Stderr);
    }

    [DomainFact]
    public async Task NoTicket_Exit3_WithKerberosOwnWords()
    {
        var ls = await Dc.RunSmbAsync(null, ["-k", "ls", Dc.Url()]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("No Kerberos credentials available", ls.Stderr);
    }

    [DomainFact]
    public async Task UnknownPrincipal_Exit3_NamingIt()
    {
        var ls = await Dc.RunSmbAsync(null, ["-k", "-U", "nobody-here%Some-Pass-1", "ls", Dc.Url()]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("nobody-here", ls.Stderr);
        Assert.Contains("not found in Kerberos database", ls.Stderr);
    }

    [DomainFact]
    public async Task WrongPassword_Exit3()
    {
        var ls = await Dc.RunSmbAsync(null, ["-k", "-U", $"{Dc.UserName}%wrong-Pass-9", "ls", Dc.Url()]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("Kerberos", ls.Stderr);
    }

    [DomainFact]
    public async Task UnreachableKdc_Exit3_Promptly()
    {
        // A KDC address where nothing listens (loopback: the refusal is immediate).
        var config = Path.Combine(_scratch, "krb5-nokdc.conf");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(Dc.Krb5Config)).Replace($"kdc = {Dc.Address}", "kdc = 127.0.0.1:9", StringComparison.Ordinal));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ls = await Dc.RunSmbAsync(null, ["-k", "-U", $"{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()],
            environment: new Dictionary<string, string> { ["KRB5_CONFIG"] = config });
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("Cannot contact any KDC", ls.Stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    [DomainFact]
    public async Task ClockTwoHoursAhead_Exit3_ClockSkewNamed()
    {
        var cache = Cache("skew");
        await Dc.KinitAsync(cache);
        var ls = await Dc.RunSmbAsync(cache, ["-k", "ls", Dc.Url()],
            environment: new Dictionary<string, string> { ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1" },
            wrapper: [TestPrograms.Require("faketime"), "-f", "+2h"]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("Clock skew too great", ls.Stderr);
        Assert.Contains("STATUS_TIME_DIFFERENCE_AT_DC", ls.Stderr);
    }

    /// <summary>A ticket that has ended (the client's clock a day on: the cached ticket lasts 10 h) is named as expired.</summary>
    [DomainFact]
    public async Task ExpiredTicket_Exit3_SaysExpired()
    {
        var cache = Cache("expired");
        await Dc.KinitAsync(cache);
        var ls = await Dc.RunSmbAsync(cache, ["-k", "ls", Dc.Url()],
            environment: new Dictionary<string, string> { ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1" },
            wrapper: [TestPrograms.Require("faketime"), "-f", "+1d"]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("expired", ls.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A KDC that takes requests and never answers holds a soft call no longer than its soft timeout.</summary>
    [DomainFact]
    public async Task UnansweringKdc_Soft5_EndsWithinTheSoftTimeout()
    {
        using var tcp = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        tcp.Start(); // accepts (the kernel's backlog) and never answers
        var port = ((IPEndPoint)tcp.LocalEndpoint).Port;
        using var udp = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, port)); // takes datagrams, answers none
        var config = Path.Combine(_scratch, "krb5-silent.conf");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(Dc.Krb5Config)).Replace($"kdc = {Dc.Address}", $"kdc = 127.0.0.1:{port}", StringComparison.Ordinal));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ls = await Dc.RunSmbAsync(null, ["-k", "--soft", "5", "-U", $"{Dc.UserName}%{Dc.Password}", "ls", Dc.Url()], TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string> { ["KRB5_CONFIG"] = config });
        clock.Stop();
        Assert.Equal(5, ls.ExitCode); // a soft timeout, as for any wait of a soft call
        Assert.Contains("soft timeout of 5 s", ls.Stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
    }

    [DomainFact]
    public async Task HostGivenAsAnAddress_Exit3_SaysToUseTheName()
    {
        var ls = await Dc.RunSmbAsync(null, ["-k", "ls", $"smb://{Dc.Address}/data"]);
        Assert.Equal(3, ls.ExitCode);
        Assert.Contains("connect by the server's name", ls.Stderr);
    }

    /// <summary>
    /// A read that spans the end of its service ticket: Samba then answers STATUS_NETWORK_SESSION_EXPIRED, and the session
    /// re-authenticates on its own SessionId with a new AP-REQ (a new ticket got with the password), unseen by the caller:
    /// the read goes on, on the same handle, byte-exact. In process (the client connects to the DC's address and names it
    /// by its host name); the service ticket is asked for 60 s, as Samba's KDC gives whole hours only.
    /// </summary>
    [DomainFact]
    public async Task ReadSpanningTheTicketsEnd_SessionReauthenticated_ByteExact()
    {
        NativeEnvironment.Set("KRB5_CONFIG", Dc.Krb5Config);
        NativeEnvironment.Set("KRB5CCNAME", Cache("expiry-unused"));
        SmbLayer.Security.Kerberos.KerberosAuthenticator.RequestedLifetimeSeconds = 60;
        try
        {
            var name = $"krb5-expiry-{Guid.NewGuid():N}.bin";
            var data = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
            await File.WriteAllBytesAsync(Dc.LocalPath(name), data);
            using var logs = new CapturingLoggerFactory();
            await using var client = new SmbClient(new SmbClientOptions
            {
                Kerberos = KerberosPolicy.Required,
                Credentials = new SmbCredentials(Dc.UserName, Dc.Password, Dc.NetbiosDomain),
                ServerAddress = IPAddress.Parse(Dc.Address),
                FailureMode = SmbFailureMode.Hard,
                LoggerFactory = logs,
            });
            var read = new MemoryStream();
            await using (var stream = await client.OpenReadAsync(Dc.Url(name)))
            {
                var buffer = new byte[1024 * 1024];
                for (var n = 0; n < 4; n++)
                {
                    read.Write(buffer, 0, await stream.ReadAtLeastAsync(buffer, buffer.Length));
                }
                await Task.Delay(TimeSpan.FromSeconds(75)); // the ticket, and so the session, ends meanwhile
                await stream.CopyToAsync(read);
            }
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(read.ToArray()));
            Assert.Contains("NETWORK_SESSION_EXPIRED", logs.Text, StringComparison.Ordinal);
            Assert.Contains("re-authenticated", logs.Text, StringComparison.Ordinal);
        }
        finally
        {
            SmbLayer.Security.Kerberos.KerberosAuthenticator.RequestedLifetimeSeconds = 0;
        }
    }

    /// <summary>
    /// A <c>--hard</c> read through a proxy that resets every connection 1 s in: the client reconnects, authenticates
    /// again with a fresh AP-REQ from the cache, reclaims its durable handle, and the bytes are exact.
    /// </summary>
    [DomainFact]
    public async Task HardRead_ConnectionReset_ReauthenticatesWithKerberos_ByteExact()
    {
        var cache = Cache("hard");
        await Dc.KinitAsync(cache);
        var name = $"krb5-hard-{Guid.NewGuid():N}.bin";
        var data = RandomNumberGenerator.GetBytes(48 * 1024 * 1024);
        await File.WriteAllBytesAsync(Dc.LocalPath(name), data);
        await using var proxy = FaultProxy.Start(IPAddress.Parse(Dc.Address), 445);
        proxy.Delay = TimeSpan.FromMilliseconds(5); // stretches the read so the reset falls inside it
        // The DC's name leads to the proxy here (its port in the URL); the ticket is still for cifs/<the DC's name>.
        var hosts = Path.Combine(_scratch, "hosts-proxy");
        await File.WriteAllTextAsync(hosts, (await File.ReadAllTextAsync("/etc/hosts")) + $"\n127.0.0.1 {Dc.Host}\n");
        var reading = Dc.RunSmbAsync(cache, ["-k", "--hard", "cat", Dc.Url(name, proxy.Port)], TimeSpan.FromSeconds(180), hosts);
        await Task.Delay(TimeSpan.FromSeconds(1));
        proxy.ResetAll();
        var cat = await reading;
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.True(proxy.Accepted >= 2, "the connection was never re-established");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(cat.Stdout));
    }
}

/// <summary>The process's own environment as native code sees it (.NET's Environment.SetEnvironmentVariable does not reach it on Unix).</summary>
internal static class NativeEnvironment
{
    public static void Set(string name, string value) => Assert.Equal(0, setenv(name, value, 1));

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);
}
