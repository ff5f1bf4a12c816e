using System.Diagnostics;
using System.Globalization;

namespace SmbLayer.IntegrationTests;

/// <summary>
/// A throwaway Samba AD domain controller (scripts/ad-dc.sh): on 127.0.0.10 with NTLM switched off, or on 127.0.0.11
/// allowing it; the Kerberos tests' servers. Started once per test run (a collection fixture) and stopped, its address removed, afterwards; a crashed test
/// process is covered by the script's watchdog. Clients reach it by name through <see cref="RunSmbAsync"/>, which runs
/// the CLI in a mount namespace of its own where /etc/hosts is the DC's <see cref="HostsFile"/>: nothing is written to
/// the system's.
/// </summary>
public sealed class DomainController : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private DomainController(string directory, IReadOnlyDictionary<string, string> values)
    {
        Directory = directory;
        Realm = values["REALM"];
        NetbiosDomain = values["DOMAIN"];
        Host = values["HOST"];
        Address = values["ADDRESS"];
        UserName = values["USER"];
        Password = values["PASSWORD"];
        ShareDirectory = values["SHAREDIR"];
        Krb5Config = values["KRB5_CONFIG"];
        HostsFile = values["HOSTS"];
    }

    public string Directory { get; }
    public string Realm { get; }
    public string NetbiosDomain { get; }
    public string Host { get; }
    public string Address { get; }
    public string UserName { get; }
    public string Password { get; }
    public string ShareDirectory { get; }
    public string Krb5Config { get; }
    public string HostsFile { get; }

    public static string ScriptPath => Path.Combine(SambaServer.RepositoryRoot, "scripts", "ad-dc.sh");

    /// <summary><c>smb://HOST[:PORT]/data/PATH</c>.</summary>
    public string Url(string path = "", int? port = null) =>
        $"smb://{Host}{(port is { } p ? ":" + p.ToString(CultureInfo.InvariantCulture) : "")}/data/{path.TrimStart('/')}";

    public string LocalPath(string path) => Path.Combine(ShareDirectory, path);

    /// <summary>Starts a DC on <paramref name="address"/>; NTLM is switched off unless <paramref name="ntlm"/>.</summary>
    public static async Task<DomainController> StartAsync(string address = "127.0.0.10", bool ntlm = false)
    {
        var dir = Path.Combine(Path.GetTempPath(), "smblayer-addc-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(dir);
        var env = new Dictionary<string, string> { ["SAMBA_WATCH_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture) };
        var result = await ProcessRunner.RunAsync("bash", [ScriptPath, "start", dir, address, ntlm ? "on" : "off"], StartTimeout, env);
        var envFile = Path.Combine(dir, "dc.env");
        if (result.ExitCode != 0 || !File.Exists(envFile))
        {
            await ProcessRunner.RunAsync("bash", [ScriptPath, "stop", dir], TimeSpan.FromSeconds(30));
            System.IO.Directory.Delete(dir, recursive: true);
            throw new InvalidOperationException($"Could not start the AD DC: exit code {result.ExitCode}.\n{result.StdOut}{result.StdErr}");
        }
        var values = (await File.ReadAllLinesAsync(envFile))
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        return new DomainController(dir, values);
    }

    /// <summary>
    /// <c>kinit</c> into <paramref name="cache"/> (FILE:…) as the test user; <paramref name="lifetime"/> asks for a short ticket.
    /// </summary>
    public async Task KinitAsync(string cache, string? lifetime = null)
    {
        string[] args = lifetime is null ? [$"{UserName}@{Realm}"] : ["-l", lifetime, $"{UserName}@{Realm}"];
        var result = await ProcessRunner.RunAsync("kinit", args, TimeSpan.FromSeconds(30),
            new Dictionary<string, string> { ["KRB5_CONFIG"] = Krb5Config, ["KRB5CCNAME"] = cache }, standardInput: Password + "\n");
        Assert.True(result.ExitCode == 0, $"kinit failed: {result.StdOut}{result.StdErr}");
    }

    /// <summary>
    /// Runs <c>smb ARGS</c> as a user of this domain would: KRB5_CONFIG the DC's, KRB5CCNAME <paramref name="cache"/>
    /// (null: a cache that does not exist), the DC's names resolvable, stdin closed, no SMB_PASSWORD.
    /// </summary>
    public async Task<(int ExitCode, byte[] Stdout, string Stderr)> RunSmbAsync(string? cache, IEnumerable<string> args,
        TimeSpan? timeout = null, string? hostsFile = null, IReadOnlyDictionary<string, string>? environment = null, string[]? wrapper = null)
    {
        var smb = SmbProgram.StartInfo(args);
        // A mount namespace of the CLI's own, where /etc/hosts names the DC: the system's file stays as it is.
        var psi = new ProcessStartInfo(TestPrograms.Require("unshare"));
        foreach (var a in new[] { "--mount", "--propagation", "private", "--", TestPrograms.Require("sh"), "-c",
                     "mount --bind \"$0\" /etc/hosts && exec \"$@\"", hostsFile ?? HostsFile })
        {
            psi.ArgumentList.Add(a);
        }
        // A program the CLI runs under (faketime: a client whose clock is off).
        foreach (var a in (wrapper ?? []).Append(smb.FileName).Concat(smb.ArgumentList))
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["KRB5_CONFIG"] = Krb5Config;
        psi.Environment["KRB5CCNAME"] = cache ?? $"FILE:{Path.Combine(Directory, "no-such-cache")}";
        psi.Environment.Remove("SMB_PASSWORD");
        psi.Environment["USER"] = UserName;
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        return await SmbProgram.RunAsync(psi, timeout);
    }

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync("bash", [ScriptPath, "stop", Directory], TimeSpan.FromSeconds(30));
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held for a moment: the temp directory goes with the next cleanup.
        }
    }
}

/// <summary>
/// Whether the AD DC tests run: always with CI=true (a DC that cannot start fails them); elsewhere skipped with the reason
/// when Samba's DC or Kerberos tools are missing or the tests do not run as root.
/// </summary>
public static class DomainControllerAvailability
{
    private static readonly Lazy<string?> Reason = new(() =>
    {
        foreach (var tool in new[] { "samba", "samba-tool", "winbindd", "kinit", "unshare" })
        {
            if (!SambaServer.ToolExists(tool))
            {
                return $"{tool} is not installed (apt-get install samba-ad-dc krb5-user winbind, or run scripts/test.sh; CI=true makes this a failure).";
            }
        }
        return SambaAvailability.SkipReason;
    });

    public static string? SkipReason => SambaAvailability.IsCi ? null : Reason.Value;
}

/// <summary>A fact that needs the AD DC; see <see cref="DomainControllerAvailability"/>.</summary>
public sealed class DomainFactAttribute : FactAttribute
{
    public DomainFactAttribute()
    {
        if (DomainControllerAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>The DC of a test run with NTLM off (127.0.0.10), for the collection <see cref="DomainCollection"/>.</summary>
public class DomainFixture : IAsyncLifetime
{
    private readonly string _address;
    private readonly bool _ntlm;
    private DomainController? _dc;

    public DomainFixture() : this("127.0.0.10", ntlm: false)
    {
    }

    protected DomainFixture(string address, bool ntlm) => (_address, _ntlm) = (address, ntlm);

    public DomainController Dc => _dc ?? throw new InvalidOperationException($"No AD DC: {DomainControllerAvailability.SkipReason ?? "not started"}.");

    public async Task InitializeAsync()
    {
        if (DomainControllerAvailability.SkipReason is null)
        {
            _dc = await DomainController.StartAsync(_address, _ntlm);
        }
    }

    public async Task DisposeAsync()
    {
        if (_dc is not null)
        {
            await _dc.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DomainCollection : ICollectionFixture<DomainFixture>
{
    public const string Name = "samba-ad-dc";
}

/// <summary>The variant with NTLM allowed (127.0.0.11): where a client may fall back from Kerberos to NTLM.</summary>
public sealed class NtlmDomainFixture() : DomainFixture("127.0.0.11", ntlm: true);

[CollectionDefinition(Name)]
public sealed class NtlmDomainCollection : ICollectionFixture<NtlmDomainFixture>
{
    public const string Name = "samba-ad-dc-ntlm";
}

/// <summary>A theory that needs the AD DC; see <see cref="DomainControllerAvailability"/>.</summary>
public sealed class DomainTheoryAttribute : TheoryAttribute
{
    public DomainTheoryAttribute()
    {
        if (DomainControllerAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
