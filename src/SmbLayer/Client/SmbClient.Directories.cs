using System.Threading.Channels;
using SmbLayer.Client;
using SmbLayer.Protocol;

namespace SmbLayer;

/// <summary>What a recursive transfer moved.</summary>
public readonly record struct SmbDirectoryTransfer(int Files, int Directories, long Bytes);

// Recursive transfers: many files at once over the one pooled connection, with a bound.
public sealed partial class SmbClient
{
    /// <summary>Default number of files a recursive transfer moves at the same time.</summary>
    public const int DefaultTransferConcurrency = 16;

    /// <summary>
    /// Copies the local directory <paramref name="localDirectory"/> and everything below it into
    /// <paramref name="remoteDirectory"/> (created if missing; existing files are overwritten).
    /// Directories are created first, parents before children; then up to
    /// <paramref name="maxConcurrency"/> files travel at once on one connection (a small file is
    /// one CREATE + WRITE + CLOSE compound).
    /// </summary>
    public Task<SmbDirectoryTransfer> UploadDirectoryAsync(string localDirectory, SmbPath remoteDirectory,
        int maxConcurrency = DefaultTransferConcurrency, CancellationToken cancellationToken = default) =>
        Traced("smb.upload_directory", remoteDirectory, () => UploadDirectoryCoreAsync(localDirectory, remoteDirectory, maxConcurrency, cancellationToken));

    private async Task<SmbDirectoryTransfer> UploadDirectoryCoreAsync(string localDirectory, SmbPath remoteDirectory,
        int maxConcurrency, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrency, 1);
        RequireShare(remoteDirectory);
        var root = new DirectoryInfo(localDirectory);
        if (!root.Exists)
        {
            throw new DirectoryNotFoundException($"No local directory '{localDirectory}'.");
        }
        var directories = new List<string>();
        var files = new List<string>();
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = SkipReparsePoints, IgnoreInaccessible = false };
        foreach (var entry in root.EnumerateFileSystemInfos("*", options))
        {
            var relative = Path.GetRelativePath(root.FullName, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
            (entry is DirectoryInfo ? directories : files).Add(relative);
        }
        // Parents first: sorting by depth keeps every directory after the one that holds it.
        directories.Sort((a, b) => a.Count(c => c == '/').CompareTo(b.Count(c => c == '/')));
        if (remoteDirectory.Path.Length > 0)
        {
            await EnsureDirectoryAsync(remoteDirectory, cancellationToken).ConfigureAwait(false);
        }
        foreach (var group in directories.GroupBy(d => d.Count(c => c == '/')))
        {
            await Parallel.ForEachAsync(group, Bounded(maxConcurrency, cancellationToken),
                (d, ct) => new ValueTask(EnsureDirectoryAsync(Child(remoteDirectory, d), ct))).ConfigureAwait(false);
        }
        long bytes = 0;
        await Parallel.ForEachAsync(files, Bounded(maxConcurrency, cancellationToken), async (f, ct) =>
        {
            var local = Path.Combine(root.FullName, f.Replace('/', Path.DirectorySeparatorChar));
            var source = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            await using (source.ConfigureAwait(false))
            {
                Interlocked.Add(ref bytes, await UploadAsync(source, Child(remoteDirectory, f), null, ct).ConfigureAwait(false));
            }
        }).ConfigureAwait(false);
        return new SmbDirectoryTransfer(files.Count, directories.Count, bytes);
    }

    /// <summary>
    /// Copies the remote directory <paramref name="remoteDirectory"/> and everything below it into
    /// <paramref name="localDirectory"/> (created if missing; existing files are replaced by the rules of
    /// <see cref="DownloadFileAsync(SmbPath, string, IProgress{long}?, CancellationToken)"/>). The
    /// tree is listed as the files travel, up to <paramref name="maxConcurrency"/> at once on one connection
    /// (a small file is one CREATE + READ + CLOSE compound); at most a few files per transfer wait listed.
    /// </summary>
    public Task<SmbDirectoryTransfer> DownloadDirectoryAsync(SmbPath remoteDirectory, string localDirectory,
        int maxConcurrency = DefaultTransferConcurrency, CancellationToken cancellationToken = default) =>
        Traced("smb.download_directory", remoteDirectory, () => DownloadDirectoryCoreAsync(remoteDirectory, localDirectory, maxConcurrency, cancellationToken));

    private async Task<SmbDirectoryTransfer> DownloadDirectoryCoreAsync(SmbPath remoteDirectory, string localDirectory,
        int maxConcurrency, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrency, 1);
        RequireShare(remoteDirectory);
        var root = Path.GetFullPath(localDirectory);
        Directory.CreateDirectory(root);
        // The walk hands files to the transfers as it finds them, through a queue of a few per transfer: the server says
        // how many entries a tree has, so they are not collected first (a listing that never ends would be held whole).
        var files = Channel.CreateBounded<(string Path, long Size)>(new BoundedChannelOptions(DownloadQueuePerTransfer * maxConcurrency)
        {
            SingleWriter = true,
        });
        using var walking = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var walk = WalkAsync(remoteDirectory, root, files.Writer, walking.Token);
        long bytes = 0;
        var count = 0;
        try
        {
            await Parallel.ForEachAsync(files.Reader.ReadAllAsync(cancellationToken), Bounded(maxConcurrency, cancellationToken), async (f, ct) =>
            {
                // Each file by the rules of DownloadFileAsync: a device, FIFO or symbolic link already there is not replaced.
                var written = await LocalFileTarget.WriteAsync(LocalPath(root, f.Path),
                    (target, ct2) => DownloadCoreAsync(Child(remoteDirectory, f.Path), target, null, f.Size, ct2), ct).ConfigureAwait(false);
                Interlocked.Add(ref bytes, written);
                Interlocked.Increment(ref count);
            }).ConfigureAwait(false);
        }
        finally
        {
            // A transfer failed or the caller cancelled: the walk stops too (it ends the queue; it never throws).
            await walking.CancelAsync().ConfigureAwait(false);
            await walk.ConfigureAwait(false);
        }
        return new SmbDirectoryTransfer(count, walk.Result, bytes);
    }

    /// <summary>Files a recursive download queues per transfer, ahead of the transfers.</summary>
    internal const int DownloadQueuePerTransfer = 4;

    /// <summary>
    /// Lists the tree below <paramref name="remoteDirectory"/>, directory by directory, creating each local directory and
    /// queueing each file; returns the number of directories. Its failure ends the queue with the error, so the transfers
    /// see it. Bounded by what the server lists: each directory is visited once.
    /// </summary>
    private async Task<int> WalkAsync(SmbPath remoteDirectory, string root, ChannelWriter<(string Path, long Size)> files, CancellationToken cancellationToken)
    {
        var directories = 0;
        try
        {
            var pending = new Queue<string>();
            pending.Enqueue("");
            while (pending.TryDequeue(out var relative))
            {
                await foreach (var entry in ListAsync(Child(remoteDirectory, relative), "*", cancellationToken).ConfigureAwait(false))
                {
                    var child = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                    if (entry.IsDirectory)
                    {
                        Directory.CreateDirectory(LocalPath(root, child));
                        directories++;
                        pending.Enqueue(child);
                    }
                    else
                    {
                        await files.WriteAsync((child, entry.Size), cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            files.TryComplete();
        }
        catch (Exception ex)
        {
            files.TryComplete(ex);
        }
        return directories;
    }

    public Task<SmbDirectoryTransfer> UploadDirectoryAsync(string localDirectory, string location,
        int maxConcurrency = DefaultTransferConcurrency, CancellationToken cancellationToken = default) =>
        UploadDirectoryAsync(localDirectory, SmbPath.Parse(location), maxConcurrency, cancellationToken);

    public Task<SmbDirectoryTransfer> DownloadDirectoryAsync(string location, string localDirectory,
        int maxConcurrency = DefaultTransferConcurrency, CancellationToken cancellationToken = default) =>
        DownloadDirectoryAsync(SmbPath.Parse(location), localDirectory, maxConcurrency, cancellationToken);

    private const System.IO.FileAttributes SkipReparsePoints = System.IO.FileAttributes.ReparsePoint;

    private static ParallelOptions Bounded(int maxConcurrency, CancellationToken cancellationToken) =>
        new() { MaxDegreeOfParallelism = maxConcurrency, CancellationToken = cancellationToken };

    private static SmbPath Child(SmbPath directory, string relative) =>
        relative.Length == 0 ? directory : directory.WithPath(directory.Path.Length == 0 ? relative : directory.Path + "/" + relative);

    private static string LocalPath(string root, string relative)
    {
        var full = Path.GetFullPath(Path.Combine(root, relative.Replace('/', Path.DirectorySeparatorChar)));
        // A name from the server must not lead outside the target directory.
        if (!full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new SmbProtocolException($"The server listed '{relative}', which leads outside '{root}'.");
        }
        return full;
    }

    /// <summary>Creates a remote directory; one that already exists is fine.</summary>
    private async Task EnsureDirectoryAsync(SmbPath path, CancellationToken cancellationToken)
    {
        try
        {
            await CreateDirectoryAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (SmbStatusException ex) when (ex.Status == NtStatus.ObjectNameCollision)
        {
            var info = await GetInfoAsync(path, cancellationToken).ConfigureAwait(false);
            if (!info.IsDirectory)
            {
                throw new IOException($"'{path.Path}' exists on the server and is not a directory.", ex);
            }
        }
    }
}
