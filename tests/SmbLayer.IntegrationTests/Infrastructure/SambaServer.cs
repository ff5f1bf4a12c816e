using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace SmbLayer.IntegrationTests;

/// <summary>
/// A private, throwaway smbd on 127.0.0.1, started with <c>scripts/samba-server.sh</c>.
/// All of its state lives in <see cref="Directory"/>, which <see cref="DisposeAsync"/> deletes
/// after stopping every process of the instance.
/// </summary>
public sealed class SambaServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private static readonly ConcurrentDictionary<SambaServer, byte> Live = new();

    private int _disposed;

    static SambaServer()
    {
        // Last line of defence if a test run ends without disposing its servers.
        // (A crashed or killed test host is covered by the script's watchdog, see SAMBA_WATCH_PID.)
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAllForProcessExit();
    }

    private SambaServer(SambaProfile profile, string directory, IReadOnlyDictionary<string, string> env)
    {
        Profile = profile;
        Directory = directory;
        Port = int.Parse(Required(env, "PORT"), CultureInfo.InvariantCulture);
        UserName = Required(env, "USER");
        Password = Required(env, "PASSWORD");
        Share = Required(env, "SHARE");
        ShareDirectory = Required(env, "SHAREDIR");
        ProcessId = int.Parse(Required(env, "PID"), CultureInfo.InvariantCulture);
        ConfigFile = env.TryGetValue("CONF", out var conf) ? conf : Path.Combine(directory, "smb.conf");
        UserId = env.TryGetValue("USER_UID", out var uid) ? int.Parse(uid, CultureInfo.InvariantCulture) : -1;
        GroupId = env.TryGetValue("USER_GID", out var gid) ? int.Parse(gid, CultureInfo.InvariantCulture) : -1;
        Host = env.TryGetValue("ADDRESS", out var address) ? address : "127.0.0.1";
    }

    public SambaProfile Profile { get; }

    /// <summary>The address it listens on: 127.0.0.1 (and ::1), or the one it was started on (port 445 then).</summary>
    public string Host { get; }

    public int Port { get; }

    public string UserName { get; }

    public string Password { get; }

    /// <summary>Share name ("share").</summary>
    public string Share { get; }

    /// <summary>Local path of the share, for creating and inspecting files directly.</summary>
    public string ShareDirectory { get; }

    /// <summary>The instance directory (config, state, logs, share); deleted on dispose.</summary>
    public string Directory { get; }

    /// <summary>The instance's smb.conf (e.g. for <c>smbstatus -s</c>).</summary>
    public string ConfigFile { get; }

    /// <summary>PID of the main smbd.</summary>
    public int ProcessId { get; }

    /// <summary>Unix uid/gid of <see cref="UserName"/>; files smbd creates belong to them.</summary>
    public int UserId { get; }

    public int GroupId { get; }

    /// <summary>The smbd log file of the instance (useful in assertion messages).</summary>
    public string LogFile => Path.Combine(Directory, "log", "log.smbd");

    /// <summary>Starts a server with the given profile; throws if it cannot be started.</summary>
    public static Task<SambaServer> StartAsync(SambaProfile profile, CancellationToken ct = default) => StartAsync(profile, null, ct);

    /// <summary>
    /// Starts a server on <paramref name="address"/> (a loopback address other than 127.0.0.1, added to lo for its life)
    /// on port 445, as DFS targets must be; null: 127.0.0.1 and ::1 on a free port.
    /// </summary>
    public static async Task<SambaServer> StartAsync(SambaProfile profile, string? address, CancellationToken ct = default)
    {
        var script = ScriptPath;
        if (!File.Exists(script))
        {
            throw new InvalidOperationException($"Samba launcher script not found: {script}");
        }

        var dir = Path.Combine(Path.GetTempPath(), "smblayer-samba-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(dir);
        var env = new Dictionary<string, string>
        {
            // The script's watchdog stops smbd when this process dies, however it dies.
            ["SAMBA_WATCH_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
        };
        if (address is not null)
        {
            env["SAMBA_ADDRESS"] = address;
        }

        (int ExitCode, string StdOut, string StdErr) result;
        try
        {
            result = await ProcessRunner.RunAsync(
                "bash", [script, "start", dir, profile.ScriptName()], StartTimeout, env, ct: ct);
        }
        catch
        {
            await StopAndDeleteAsync(dir, null);
            throw;
        }

        var envFile = Path.Combine(dir, "server.env");
        if (result.ExitCode != 0 || !File.Exists(envFile))
        {
            await StopAndDeleteAsync(dir, null);
            throw new InvalidOperationException(
                $"Could not start Samba ({profile}): exit code {result.ExitCode}.{Environment.NewLine}" +
                $"{result.StdOut}{result.StdErr}");
        }

        var values = ParseEnvFile(await File.ReadAllTextAsync(envFile, ct));
        var server = new SambaServer(profile, dir, values);
        Live[server] = 0;
        return server;
    }

    /// <summary><c>smb://127.0.0.1:PORT/share/path</c> (path segments are not escaped).</summary>
    public string Url(string pathInShare = "")
    {
        var path = pathInShare.Replace('\\', '/').TrimStart('/');
        return $"smb://{Host}:{Port.ToString(CultureInfo.InvariantCulture)}/{Share}/{path}";
    }

    /// <summary>Local path of a file or folder in the share.</summary>
    public string LocalPath(string pathInShare = "") =>
        Path.Combine(ShareDirectory, pathInShare.Replace('\\', '/').TrimStart('/'));

    /// <summary>
    /// Creates a file in the share directly on disk (creating parent folders) and hands it
    /// to <see cref="UserName"/>, so the server can modify and delete it like its own files.
    /// Returns the local path.
    /// </summary>
    public string WriteShareFile(string pathInShare, byte[] content)
    {
        var path = LocalPath(pathInShare);
        CreateParents(path);
        File.WriteAllBytes(path, content);
        GiveToShareUser(path);
        return path;
    }

    /// <inheritdoc cref="WriteShareFile(string, byte[])"/>
    public string WriteShareFile(string pathInShare, string content) =>
        WriteShareFile(pathInShare, Encoding.UTF8.GetBytes(content));

    /// <summary>Creates a folder (and parents) in the share, owned by <see cref="UserName"/>.</summary>
    public string CreateShareDirectory(string pathInShare)
    {
        var path = LocalPath(pathInShare);
        CreateParents(Path.Combine(path, "x"));
        return path;
    }

    /// <summary>Output of <c>smbstatus -s DIR/smb.conf</c> (sessions, shares, locked files).</summary>
    public async Task<string> SmbStatusAsync(CancellationToken ct = default)
    {
        var (code, stdout, stderr) = await ProcessRunner.RunAsync(
            FindTool("smbstatus"), ["-s", ConfigFile], ToolTimeout, ct: ct);
        if (code != 0)
        {
            throw new InvalidOperationException($"smbstatus failed ({code}): {stdout}{stderr}");
        }
        return stdout;
    }

    /// <summary>
    /// Every open the server holds as it sees them: the records of its open table (smbXsrv_open_global.tdb), connected
    /// or disconnected. smbstatus lists only opens of live connections; a durable handle whose connection is gone stays
    /// in this table (and keeps its share modes and lease) until it is reclaimed, closed, broken or timed out.
    /// </summary>
    /// <remarks>
    /// With <paramref name="name"/>: only the records that name that file. A durable open's record carries its durable
    /// cookie, with the file's name in it; other tests' handles (a disconnected one lasts the durable timeout) are not
    /// counted then.
    /// </remarks>
    public async Task<int> CountServerOpensAsync(string? name = null, CancellationToken ct = default) =>
        (await OpenTableRecordsAsync(ct)).Count(record => name is null || record.Contains(name, StringComparison.Ordinal));

    /// <summary>The data of each record of the server's open table, as tdbdump prints it (none before the first open made the table).</summary>
    private async Task<IEnumerable<string>> OpenTableRecordsAsync(CancellationToken ct)
    {
        var table = System.IO.Directory.GetFiles(Directory, "smbXsrv_open_global.tdb", SearchOption.AllDirectories).FirstOrDefault();
        if (table is null)
        {
            return [];
        }
        var (code, stdout, stderr) = await ProcessRunner.RunAsync(FindTool("tdbdump"), [table], ToolTimeout, ct: ct);
        if (code != 0)
        {
            throw new InvalidOperationException($"tdbdump {table} failed ({code}): {stdout}{stderr}");
        }
        return stdout.Split('\n').Where(line => line.StartsWith("data(", StringComparison.Ordinal));
    }


    /// <summary>
    /// The share paths of the durable opens in the server's open table under <paramref name="folder"/> (each record's
    /// durable cookie names its file), one per open.
    /// </summary>
    public async Task<List<string>> DurableOpenNamesAsync(string folder, CancellationToken ct = default)
    {
        var pattern = new System.Text.RegularExpressions.Regex(System.Text.RegularExpressions.Regex.Escape(folder) + @"/[A-Za-z0-9._-]+");
        return (await OpenTableRecordsAsync(ct)).Select(record => pattern.Match(record)).Where(m => m.Success).Select(m => m.Value).ToList();
    }

    /// <summary>Number of files the server currently has open (all clients).</summary>
    public async Task<int> CountOpenFilesAsync(CancellationToken ct = default) =>
        CountOpenFiles(await SmbStatusAsync(ct));

    /// <summary>Counts the rows of the "Locked files" table of smbstatus output.</summary>
    public static int CountOpenFiles(string smbStatusOutput)
    {
        var count = 0;
        var inTable = false;
        var pastHeader = false;
        foreach (var raw in smbStatusOutput.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (!inTable)
            {
                inTable = line.StartsWith("Locked files:", StringComparison.Ordinal);
                continue;
            }
            if (!pastHeader)
            {
                pastHeader = line.StartsWith("---", StringComparison.Ordinal);
                continue;
            }
            if (line.Trim().Length == 0)
            {
                break;
            }
            if (char.IsAsciiDigit(line[0]))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>
    /// Runs <c>smbclient //127.0.0.1/share -p PORT -U user%password [extraArguments] -c command</c>
    /// (with an empty client configuration, so the host's smb.conf does not interfere).
    /// </summary>
    public Task<(int exitCode, string stdout, string stderr)> SmbClientAsync(string command) =>
        SmbClientAsync(command, []);

    /// <inheritdoc cref="SmbClientAsync(string)"/>
    public async Task<(int exitCode, string stdout, string stderr)> SmbClientAsync(
        string command, IEnumerable<string> extraArguments, CancellationToken ct = default)
    {
        var r = await ProcessRunner.RunAsync(
            FindTool("smbclient"), [.. SmbClientArguments(extraArguments), "-c", command], ToolTimeout, ct: ct);
        return (r.ExitCode, r.StdOut, r.StdErr);
    }

    /// <summary>
    /// Starts an interactive smbclient session (commands via <see cref="InteractiveSmbClient.SendAsync"/>),
    /// e.g. to hold a file open from a second client.
    /// </summary>
    public InteractiveSmbClient StartInteractiveSmbClient(params string[] extraArguments)
    {
        // smbclient block-buffers stdout into a pipe; stdbuf (coreutils) makes replies visible at once.
        var stdbuf = FindTool("stdbuf");
        var psi = new ProcessStartInfo(Path.IsPathRooted(stdbuf) ? stdbuf : FindTool("smbclient"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.IsPathRooted(stdbuf))
        {
            psi.ArgumentList.Add("-oL");
            psi.ArgumentList.Add("-eL");
            psi.ArgumentList.Add(FindTool("smbclient"));
        }
        foreach (var a in SmbClientArguments(extraArguments))
        {
            psi.ArgumentList.Add(a);
        }
        return new InteractiveSmbClient(Process.Start(psi)!);
    }

    /// <summary>
    /// Kills (SIGKILL) the smbd processes that serve client connections now (<c>smbstatus -p</c>): their clients see the
    /// connection drop while the server goes on. Returns how many were killed.
    /// </summary>
    public async Task<int> KillClientConnectionsAsync(CancellationToken ct = default)
    {
        var (code, stdout, stderr) = await ProcessRunner.RunAsync(FindTool("smbstatus"), ["-p", "-s", ConfigFile], ToolTimeout, ct: ct);
        if (code != 0)
        {
            throw new InvalidOperationException($"smbstatus -p failed ({code}): {stdout}{stderr}");
        }
        var killed = 0;
        foreach (var line in stdout.Split('\n'))
        {
            var first = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid != ProcessId
                && Signals.Send(pid, Signals.Kill) == 0)
            {
                killed++;
            }
        }
        return killed;
    }

    /// <summary>PIDs of all live processes of this instance (smbd, its children, RPC helpers).</summary>
    public IReadOnlyList<int> GetInstanceProcessIds() => FindProcessesMentioning(ConfigFile);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Live.TryRemove(this, out _);
        await StopAndDeleteAsync(Directory, ProcessId);
    }

    /// <summary>Repository root: the first folder above the test binaries that holds SmbLayer.slnx.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>Absolute path of scripts/samba-server.sh.</summary>
    public static string ScriptPath => Path.Combine(RepositoryRoot, "scripts", "samba-server.sh");

    internal static string FindTool(string name)
    {
        TestPrograms.Require(name);
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
                     .Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return name;
    }

    internal static bool ToolExists(string name) => Path.IsPathRooted(FindTool(name));

    private IEnumerable<string> SmbClientArguments(IEnumerable<string> extra) =>
    [
        $"//{Host}/{Share}",
        "-p", Port.ToString(CultureInfo.InvariantCulture),
        "-U", $"{UserName}%{Password}",
        "--configfile=/dev/null",
        .. extra,
    ];

    private void CreateParents(string path)
    {
        var parent = Path.GetDirectoryName(path)!;
        var stack = new Stack<string>();
        for (var d = parent; !System.IO.Directory.Exists(d); d = Path.GetDirectoryName(d)!)
        {
            stack.Push(d);
        }
        while (stack.TryPop(out var d))
        {
            System.IO.Directory.CreateDirectory(d);
            GiveToShareUser(d);
        }
    }

    private void GiveToShareUser(string path)
    {
        if (UserId >= 0 && Native.chown(path, UserId, GroupId) != 0)
        {
            throw new IOException($"chown {UserId}:{GroupId} {path} failed, errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private static async Task StopAndDeleteAsync(string dir, int? mainPid)
    {
        var conf = Path.Combine(dir, "smb.conf");
        try
        {
            await ProcessRunner.RunAsync("bash", [ScriptPath, "stop", dir], StopTimeout);
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Fall through to the hard kill below.
        }
        KillHard(conf, mainPid);
        for (var i = 0; i < 50 && FindProcessesMentioning(conf).Count > 0; i++)
        {
            await Task.Delay(100);
        }
        try
        {
            if (System.IO.Directory.Exists(dir))
            {
                System.IO.Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static void KillHard(string conf, int? mainPid)
    {
        if (mainPid is int pid && pid > 1)
        {
            _ = Signals.Send(-pid, Signals.Kill); // smbd leads its own process group
        }
        foreach (var p in FindProcessesMentioning(conf))
        {
            _ = Signals.Send(p, Signals.Kill);
        }
    }

    private static void StopAllForProcessExit()
    {
        ProcessRunner.KillAll();
        foreach (var server in Live.Keys)
        {
            try
            {
                KillHard(server.ConfigFile, server.ProcessId);
                System.IO.Directory.Delete(server.Directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private static List<int> FindProcessesMentioning(string text)
    {
        var result = new List<int>();
        foreach (var procDir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(procDir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(procDir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(text, StringComparison.Ordinal)
                    && !cmdline.Contains("samba-server.sh", StringComparison.Ordinal))
                {
                    result.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process went away while we looked.
            }
        }
        return result;
    }

    private static Dictionary<string, string> ParseEnvFile(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[line[..eq].Trim()] = line[(eq + 1)..].TrimEnd('\r');
            }
        }
        return values;
    }

    private static string Required(IReadOnlyDictionary<string, string> env, string key) =>
        env.TryGetValue(key, out var v) && v.Length > 0
            ? v
            : throw new InvalidOperationException($"server.env has no {key}");

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SmbLayer.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException(
            $"No folder containing SmbLayer.slnx above {AppContext.BaseDirectory}");
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int owner, int group);
    }
}

/// <summary>An smbclient process driven through its standard input.</summary>
public sealed class InteractiveSmbClient : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    internal InteractiveSmbClient(Process process)
    {
        _process = process;
        ProcessRunner.Track(process);
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Everything smbclient printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public async Task SendAsync(string command)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits until <see cref="Output"/> contains <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline || _process.HasExited)
            {
                throw new TimeoutException($"smbclient did not print '{text}'. Output so far:{Environment.NewLine}{Output}");
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await SendAsync("quit");
                _process.StandardInput.Close();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(cts.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
        }
        finally
        {
            ProcessRunner.KillQuietly(_process);
            ProcessRunner.Untrack(_process);
            _process.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
