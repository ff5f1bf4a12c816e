using System.Globalization;
using SmbLayer.Protocol;

namespace SmbLayer.Cli;

/// <summary>
/// The sub-commands. <see cref="Plan"/> validates a command's arguments and returns the URL
/// whose credentials apply plus the work to do once connected, so usage errors come out before
/// any password prompt or network traffic.
/// </summary>
internal sealed class CliCommands(
    TextWriter stdout,
    TextWriter stderr,
    Stream stdoutStream,
    ICliEnvironment environment,
    bool progressAllowed,
    CancellationToken cancellationToken)
{
    private const int LocalFileBufferSize = 1024 * 1024;

    public (SmbPath CredentialUrl, Func<ISmbFileSystem, Task> Run) Plan(string command, IReadOnlyList<string> args, bool recursive = false, bool json = false,
        bool readOnly = false)
    {
        if (readOnly && command != "mount")
        {
            throw new UsageException($"--read-only applies to mount, not to '{command}'");
        }
        if (recursive && command is not ("get" or "put"))
        {
            throw new UsageException($"-r applies to get and put, not to '{command}'");
        }
        if (json && command is not ("ls" or "stat"))
        {
            throw new UsageException($"--json applies to ls and stat, not to '{command}'");
        }
        // Credentials come from the URL as written; the operations get it without them.
        var urlText = command == "put" ? args[1] : args[0];
        var url = CliPaths.ParseUrl(urlText, serverAllowed: command == "ls");
        var target = url.WithoutCredentials();
        Func<ISmbFileSystem, Task> run = command switch
        {
            "ls" when target.Share.Length == 0 => fs => ListSharesAsync(fs, target, json),
            "ls" => fs => ListAsync(fs, target, json),
            "get" when recursive => PlanGetTree(urlText, target, args.Count > 1 ? args[1] : null),
            "put" when recursive => PlanPutTree(args[0], urlText, target),
            "get" => PlanGet(urlText, target, args.Count > 1 ? args[1] : null),
            "put" => PlanPut(args[0], urlText, target),
            "cat" => PlanCat(urlText, target),
            "rm" => PlanSimple(command, urlText, target, static (fs, p, ct) => fs.DeleteFileAsync(p, ct)),
            "mkdir" => PlanSimple(command, urlText, target, static (fs, p, ct) => fs.CreateDirectoryAsync(p, ct)),
            "rmdir" => PlanSimple(command, urlText, target, static (fs, p, ct) => fs.DeleteDirectoryAsync(p, ct)),
            "mv" => PlanMove(urlText, target, args[1]),
            "stat" => fs => StatAsync(fs, target, json),
            "mount" => PlanMount(target, args[1], readOnly),
            _ => throw new UsageException($"unknown command '{command}'"),
        };
        return (url, run);
    }

    /// <summary>Set while a mount is served: SIGTERM then unmounts it (Program.cs) instead of ending the process.</summary>
    public static volatile bool MountRunning;

    private Func<ISmbFileSystem, Task> PlanMount(SmbPath root, string mountPoint, bool readOnly)
    {
        if (!Directory.Exists(mountPoint))
        {
            throw new UsageException($"the mount point '{mountPoint}' is not a directory");
        }
        var device = environment.GetEnvironmentVariable("SMB_FUSE_DEVICE") is { Length: > 0 } d ? d : "/dev/fuse";
        return async fs =>
        {
            try
            {
                await fs.MountAsync(root, Path.GetFullPath(mountPoint), readOnly, device, () =>
                {
                    MountRunning = true;
                    stderr.WriteLine($"smb: {root}{BackgroundMount.MountedMarker}{Path.GetFullPath(mountPoint)}");
                    BackgroundMount.ReleaseStreams();
                }, cancellationToken);
            }
            finally
            {
                MountRunning = false;
            }
        };
    }

    private Func<ISmbFileSystem, Task> PlanSimple(string command, string urlText, SmbPath target, Func<ISmbFileSystem, SmbPath, CancellationToken, Task> operation)
    {
        RequirePath(command, urlText, target);
        return fs => operation(fs, target, cancellationToken);
    }

    private Func<ISmbFileSystem, Task> PlanMove(string urlText, SmbPath source, string newPathText)
    {
        RequirePath("mv", urlText, source);
        var newPath = CliPaths.ResolveRenameTarget(source, newPathText);
        return fs => fs.RenameAsync(source, newPath, cancellationToken);
    }

    private Func<ISmbFileSystem, Task> PlanCat(string urlText, SmbPath remote)
    {
        RequirePath("cat", urlText, remote);
        return async fs =>
        {
            await fs.DownloadAsync(remote, stdoutStream, progress: null, cancellationToken);
            await stdoutStream.FlushAsync(cancellationToken);
        };
    }

    private Func<ISmbFileSystem, Task> PlanGet(string urlText, SmbPath remote, string? localArg)
    {
        RequirePath("get", urlText, remote);
        if (localArg is "-" or "/dev/stdout")
        {
            // Progress on a terminal stderr is fine, unless stdout is that terminal too.
            var showProgress = ShowProgress && environment.IsOutputRedirected;
            return async fs =>
            {
                await DownloadAsync(fs, remote, stdoutStream, showProgress);
                await stdoutStream.FlushAsync(cancellationToken);
            };
        }
        var localPath = Path.GetFullPath(CliPaths.ResolveGetTarget(localArg, remote));
        return fs => DownloadToFileAsync(fs, remote, localPath);
    }

    private Func<ISmbFileSystem, Task> PlanPut(string localFile, string urlText, SmbPath url)
    {
        if (localFile == "-")
        {
            if (url.Path.Length == 0 || CliPaths.NamesDirectory(urlText))
            {
                throw new UsageException($"'put -' reads stdin and needs a file URL, not a directory: '{urlText}'");
            }
            return async fs =>
            {
                using var progress = ShowProgress ? new TransferProgress(stderr, totalBytes: null) : null;
                await using var stdin = environment.OpenStandardInput();
                await fs.UploadAsync(Counted(stdin, progress), url, cancellationToken);
            };
        }
        if (Directory.Exists(localFile))
        {
            throw new UsageException($"'{localFile}' is a directory; put copies one file");
        }
        var remote = CliPaths.ResolvePutTarget(urlText, url, localFile);
        return async fs =>
        {
            await using var source = new FileStream(localFile, FileMode.Open, FileAccess.Read, FileShare.Read, LocalFileBufferSize, useAsync: true);
            using var progress = ShowProgress ? new TransferProgress(stderr, source.Length) : null;
            await fs.UploadAsync(Counted(source, progress), remote, cancellationToken);
        };
    }

    private Func<ISmbFileSystem, Task> PlanGetTree(string urlText, SmbPath remote, string? localArg)
    {
        RequirePath("get -r", urlText, remote);
        if (localArg == "-")
        {
            throw new UsageException("'get -r' writes a directory tree and cannot write to stdout");
        }
        var localPath = Path.GetFullPath(CliPaths.ResolveGetTarget(localArg, remote));
        if (File.Exists(localPath))
        {
            throw new UsageException($"'{localPath}' is a file; get -r needs a directory");
        }
        return fs => fs.DownloadDirectoryAsync(remote, localPath, cancellationToken);
    }

    private Func<ISmbFileSystem, Task> PlanPutTree(string localDirectory, string urlText, SmbPath url)
    {
        if (!Directory.Exists(localDirectory))
        {
            throw new UsageException($"'{localDirectory}' is not a directory; put -r copies a directory tree");
        }
        var remote = CliPaths.ResolvePutTarget(urlText, url, Path.GetFullPath(localDirectory));
        return fs => fs.UploadDirectoryAsync(localDirectory, remote, cancellationToken);
    }

    private bool ShowProgress => progressAllowed && !environment.IsErrorRedirected;

    private async Task DownloadToFileAsync(ISmbFileSystem fs, SmbPath remote, string localPath)
    {
        // The library replaces a regular file atomically and writes a device, FIFO or link target in place, so a
        // failed or cancelled transfer neither leaves half a file nor destroys what the path named.
        long? total = ShowProgress ? (await fs.GetInfoAsync(remote, cancellationToken)).Size : null;
        using var progress = ShowProgress ? new TransferProgress(stderr, total) : null;
        await fs.DownloadFileAsync(remote, localPath, progress, cancellationToken);
    }

    private async Task DownloadAsync(ISmbFileSystem fs, SmbPath remote, Stream destination, bool showProgress)
    {
        long? total = showProgress ? (await fs.GetInfoAsync(remote, cancellationToken)).Size : null;
        using var progress = showProgress ? new TransferProgress(stderr, total) : null;
        await fs.DownloadAsync(remote, destination, progress, cancellationToken);
    }

    private static Stream Counted(Stream stream, TransferProgress? progress) =>
        progress is null ? stream : new CountingStream(stream, progress.Report);

    private async Task ListAsync(ISmbFileSystem fs, SmbPath url, bool json)
    {
        var (directory, pattern) = CliPaths.SplitPattern(url);
        var listed = directory.Path;
        var entries = new List<SmbFileInfo>();
        try
        {
            await foreach (var entry in fs.ListAsync(directory, pattern, cancellationToken))
            {
                entries.Add(entry);
            }
        }
        catch (SmbStatusException ex) when (ex.Status == NtStatus.NotADirectory && pattern == "*")
        {
            // "ls file" shows that file, as ls(1) does.
            entries.Add(await fs.GetInfoAsync(url, cancellationToken));
            listed = url.Path;
        }
        // One write for the whole listing: Console.Out flushes on every call, and 10,000 system calls show.
        if (json)
        {
            SortListing(entries);
            await stdout.WriteAsync(CliJson.Listing(listed, entries, stdout.NewLine));
            return;
        }
        var text = new System.Text.StringBuilder(entries.Count * 64);
        AppendListing(text, entries, stdout.NewLine);
        await stdout.WriteAsync(text.ToString());
    }

    /// <summary><c>ls smb://host/</c>: the server's shares, as <c>smbclient -L</c> prints them (or as JSON).</summary>
    private async Task ListSharesAsync(ISmbFileSystem fs, SmbPath server, bool json)
    {
        var shares = await fs.ListSharesAsync(server, cancellationToken);
        if (json)
        {
            await stdout.WriteAsync(CliJson.Shares(server.Host, shares, stdout.NewLine));
            return;
        }
        var text = new System.Text.StringBuilder((shares.Count + 2) * 48);
        var nl = stdout.NewLine;
        text.Append(CultureInfo.InvariantCulture, $"\t{"Sharename",-15} {"Type",-10}Comment{nl}");
        text.Append(CultureInfo.InvariantCulture, $"\t{"---------",-15} {"----",-10}-------{nl}");
        foreach (var share in shares)
        {
            text.Append(CultureInfo.InvariantCulture, $"\t{share.Name,-15} {share.TypeName,-10}{share.Comment}{nl}");
        }
        await stdout.WriteAsync(text.ToString());
    }

    private async Task StatAsync(ISmbFileSystem fs, SmbPath url, bool json)
    {
        var info = await fs.GetInfoAsync(url, cancellationToken);
        if (json)
        {
            await stdout.WriteAsync(CliJson.Entry(info, stdout.NewLine));
            return;
        }
        foreach (var line in FormatStat(info))
        {
            await stdout.WriteLineAsync(line);
        }
    }

    /// <summary>
    /// The listing into <paramref name="text"/>: one line per entry, each ended by <paramref name="newLine"/>, sorted
    /// by name (<paramref name="entries"/> is sorted in place): type ('d' or '-'), size, local modification time,
    /// name ('/' after directories). Formats by hand: a 10,000-entry listing spent tens of milliseconds in LINQ
    /// ordering and a custom date format string parsed again for every line.
    /// </summary>
    public static void AppendListing(System.Text.StringBuilder text, List<SmbFileInfo> entries, string newLine)
    {
        SortListing(entries);
        var sizeWidth = 1;
        foreach (var entry in entries)
        {
            sizeWidth = Math.Max(sizeWidth, DigitCount(entry.Size));
        }
        Span<char> line = stackalloc char[48];
        foreach (var entry in entries)
        {
            // "- <size padded>  yyyy-MM-dd HH:mm  name"
            var n = 0;
            line[n++] = entry.IsDirectory ? 'd' : '-';
            line[n++] = ' ';
            var digits = DigitCount(entry.Size);
            line.Slice(n, sizeWidth - digits).Fill(' ');
            n += sizeWidth - digits;
            entry.Size.TryFormat(line[n..], out var written, default, CultureInfo.InvariantCulture);
            n += written;
            line[n++] = ' ';
            line[n++] = ' ';
            var t = entry.LastWriteTime.ToLocalTime();
            n += Digits(line[n..], t.Year, "D4");
            line[n++] = '-';
            n += Digits(line[n..], t.Month, "D2");
            line[n++] = '-';
            n += Digits(line[n..], t.Day, "D2");
            line[n++] = ' ';
            n += Digits(line[n..], t.Hour, "D2");
            line[n++] = ':';
            n += Digits(line[n..], t.Minute, "D2");
            line[n++] = ' ';
            line[n++] = ' ';
            text.Append(line[..n]).Append(entry.Name);
            if (entry.IsDirectory)
            {
                text.Append('/');
            }
            text.Append(newLine);
        }
    }

    /// <summary>The listing order, text and JSON alike: by name ignoring case, then ordinal.</summary>
    public static void SortListing(List<SmbFileInfo> entries) =>
        entries.Sort(static (a, b) =>
        {
            var c = string.Compare(a.Name, b.Name, StringComparison.OrdinalIgnoreCase);
            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });

    private static int DigitCount(long value)
    {
        var count = value < 0 ? 2 : 1; // a sign, should a server ever send one
        for (var v = Math.Abs(value / 10); v > 0; v /= 10)
        {
            count++;
        }
        return count;
    }

    /// <summary>Writes <paramref name="value"/> zero-padded as <paramref name="format"/> ("D2", "D4") says; returns the chars written.</summary>
    private static int Digits(Span<char> destination, int value, string format)
    {
        value.TryFormat(destination, out var written, format, CultureInfo.InvariantCulture);
        return written;
    }

    /// <summary>Every field of <see cref="SmbFileInfo"/>, one "Name: value" line each.</summary>
    public static IEnumerable<string> FormatStat(SmbFileInfo info)
    {
        static string Time(DateTimeOffset t) => t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fffffff zzz", CultureInfo.InvariantCulture);
        (string Label, string Value)[] fields =
        [
            ("Name", info.Name),
            ("Path", info.Path),
            ("Type", info.IsDirectory ? "directory" : "file"),
            ("Size", info.Size.ToString(CultureInfo.InvariantCulture)),
            ("AllocationSize", info.AllocationSize.ToString(CultureInfo.InvariantCulture)),
            ("Attributes", info.Attributes == 0 ? "None" : info.Attributes.ToString()),
            ("CreationTime", Time(info.CreationTime)),
            ("LastAccessTime", Time(info.LastAccessTime)),
            ("LastWriteTime", Time(info.LastWriteTime)),
            ("ChangeTime", Time(info.ChangeTime)),
        ];
        var width = fields.Max(f => f.Label.Length) + 1;
        return fields.Select(f => (f.Label + ":").PadRight(width) + " " + f.Value);
    }

    private static void RequirePath(string command, string urlText, SmbPath url)
    {
        if (url.Path.Length == 0)
        {
            throw new UsageException($"'{command}' needs a path inside the share, not the share root: '{urlText}'");
        }
    }
}
