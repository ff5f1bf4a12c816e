namespace SmbLayer.IntegrationTests;

/// <summary>
/// Decides whether Samba-backed tests run. With CI=true they always run (and fail loudly if
/// Samba is missing or broken); elsewhere they are skipped with a reason when smbd is not
/// installed or a probe server cannot be started.
/// </summary>
public static class SambaAvailability
{
    private static readonly Lazy<string?> LazySkipReason = new(ComputeSkipReason);

    /// <summary>True when the environment variable CI is "true" (case-insensitive).</summary>
    public static bool IsCi =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Null if Samba tests should run; otherwise why they are skipped. Always null on CI.</summary>
    public static string? SkipReason => IsCi ? null : LazySkipReason.Value;

    private static string? ComputeSkipReason()
    {
        const string Hint = " Install it (apt-get install samba smbclient) or run scripts/test.sh; set CI=true to make this a failure.";
        if (!OperatingSystem.IsLinux())
        {
            return "Samba integration tests need Linux." + Hint;
        }
        foreach (var tool in new[] { "smbd", "smbclient", "smbstatus", "smbpasswd" })
        {
            if (!SambaServer.ToolExists(tool))
            {
                return $"{tool} is not installed." + Hint;
            }
        }
        if (GetEuid() != 0)
        {
            return "The private smbd has to run as root (scripts/samba-server.sh); run the tests as root.";
        }

        // Probe: can a server really start here?
        try
        {
            var server = Task.Run(() => SambaServer.StartAsync(SambaProfile.Default)).GetAwaiter().GetResult();
            Task.Run(async () => await server.DisposeAsync()).GetAwaiter().GetResult();
            return null;
        }
        catch (Exception e)
        {
            return "Samba test server could not start: " + e.Message + Hint;
        }
    }

    private static uint GetEuid()
    {
        try
        {
            return Geteuid();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return uint.MaxValue;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint Geteuid();
}

/// <summary>A fact that needs the Samba test server; see <see cref="SambaAvailability"/>.</summary>
public sealed class SambaFactAttribute : FactAttribute
{
    public SambaFactAttribute()
    {
        if (SambaAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A theory that needs the Samba test server; see <see cref="SambaAvailability"/>.</summary>
public sealed class SambaTheoryAttribute : TheoryAttribute
{
    public SambaTheoryAttribute()
    {
        if (SambaAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
