using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SmbLayer.Cli;

/// <summary>
/// <c>smb mount --background</c>: the same command runs again as a child in a session of its own (setsid), told by
/// <c>SMB_MOUNT_BACKGROUND=1</c>; it says on stderr when the mount is up and then lets go of the terminal's streams. The
/// parent relays what it said and returns 0 once it is up, or the child's exit code and message if it ends first.
/// </summary>
internal static class BackgroundMount
{
    public const string ChildVariable = "SMB_MOUNT_BACKGROUND";

    /// <summary>What the child writes on stderr once mounted (<see cref="CliCommands"/>).</summary>
    public const string MountedMarker = " mounted on ";

    public static bool IsChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    public static async Task<int> StartAsync(string[] args, SmbCredentials credentials, TextWriter stderr, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath ?? throw new InvalidOperationException("No path of this program"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet smb.dll` the process is dotnet: the program's own path comes first.
        var entry = Environment.GetCommandLineArgs()[0];
        if (!string.Equals(Path.GetFullPath(entry), Path.GetFullPath(psi.FileName), StringComparison.Ordinal))
        {
            psi.ArgumentList.Add(entry);
        }
        foreach (var arg in args)
        {
            if (arg != "--background")
            {
                psi.ArgumentList.Add(arg);
            }
        }
        psi.Environment[ChildVariable] = "1";
        if (!credentials.IsTicketCache && credentials.Password.Length > 0)
        {
            psi.Environment["SMB_PASSWORD"] = credentials.Password; // a password asked for at the prompt: the child has no terminal
        }
        using var child = Process.Start(psi)!;
        child.StandardInput.Close();
        try
        {
            while (await child.StandardError.ReadLineAsync(cancellationToken) is { } line)
            {
                await stderr.WriteLineAsync(line);
                if (line.Contains(MountedMarker, StringComparison.Ordinal))
                {
                    return ExitCodes.Success;
                }
            }
            await child.WaitForExitAsync(cancellationToken);
            return child.ExitCode;
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            throw;
        }
    }

    /// <summary>In the child: a session of its own, so the terminal's signals are not its own.</summary>
    public static void Detach()
    {
        if (IsChild)
        {
            _ = SetSid();
        }
    }

    /// <summary>In the child, once mounted and said so: stdin, stdout and stderr onto /dev/null (the parent is gone).</summary>
    public static void ReleaseStreams()
    {
        if (!IsChild)
        {
            return;
        }
        var devNull = Open("/dev/null", 2);
        if (devNull >= 0)
        {
            _ = Dup2(devNull, 0);
            _ = Dup2(devNull, 1);
            _ = Dup2(devNull, 2);
        }
    }

    [DllImport("libc", EntryPoint = "setsid")]
    private static extern int SetSid();

    [DllImport("libc", EntryPoint = "open")]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "dup2")]
    private static extern int Dup2(int oldFd, int newFd);
}
