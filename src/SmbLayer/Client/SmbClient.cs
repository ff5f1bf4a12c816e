using SmbLayer.Protocol;

namespace SmbLayer;

/// <summary>
/// The file API. Thread-safe; one instance shares pooled connections among all its calls.
/// Locations are <c>smb://host[:port]/share/path</c> or UNC strings, or <see cref="SmbPath"/>.
/// </summary>
public sealed partial class SmbClient : IAsyncDisposable
{
    public SmbClient(SmbClientOptions? options = null)
    {
        Options = (options ?? new SmbClientOptions()).Clone();
        _owner = this;
    }

    /// <summary>A view sharing <paramref name="owner"/>'s connections with other failure settings.</summary>
    private SmbClient(SmbClient owner, SmbClientOptions options)
    {
        Options = options;
        _owner = owner;
    }

    private readonly SmbClient _owner;

    public SmbClientOptions Options { get; }

    /// <summary>
    /// The same client (same pooled connections, same events) with another hard/soft setting for the
    /// calls made through the returned object. Disposing the view does nothing; dispose the original.
    /// </summary>
    public SmbClient WithFailureMode(SmbFailureMode mode, TimeSpan? softTimeout = null)
    {
        var options = Options.Clone();
        options.FailureMode = mode;
        options.SoftTimeout = softTimeout ?? Options.SoftTimeout;
        return new SmbClient(_owner, options);
    }

    /// <summary>
    /// The same client (same pooled connections, same events) with another <see cref="SmbClientOptions.OperationTimeout"/>
    /// for the calls made through the returned object (null: none). Disposing the view does nothing; dispose the original.
    /// </summary>
    public SmbClient WithOperationTimeout(TimeSpan? timeout)
    {
        var options = Options.Clone();
        options.OperationTimeout = timeout; // refuses a limit that is not positive
        return new SmbClient(_owner, options);
    }

    /// <summary>A connection to a server was lost; calls wait (hard) or fail after the soft timeout while it reconnects.</summary>
    public event EventHandler<SmbConnectionEventArgs>? ConnectionLost;

    /// <summary>A lost connection is back: session, trees and durable handles recovered.</summary>
    public event EventHandler<SmbConnectionEventArgs>? ConnectionRestored;

    /// <summary>An open file could not be reclaimed after a reconnect; its users get <see cref="SmbHandleLostException"/>.</summary>
    public event EventHandler<SmbHandleLostEventArgs>? HandleLost;

    internal void RaiseConnectionLost(SmbConnectionEventArgs e) => ConnectionLost?.Invoke(this, e);

    internal void RaiseConnectionRestored(SmbConnectionEventArgs e) => ConnectionRestored?.Invoke(this, e);

    internal void RaiseHandleLost(SmbHandleLostEventArgs e) => HandleLost?.Invoke(this, e);

    /// <summary>Opens a file for reading. Sequential reads keep several requests in flight.</summary>
    public Task<Stream> OpenReadAsync(string location, CancellationToken cancellationToken = default) =>
        OpenReadAsync(SmbPath.Parse(location), cancellationToken);

    /// <summary>Opens (creates or truncates when <paramref name="overwrite"/>) a file for writing.</summary>
    public Task<Stream> OpenWriteAsync(string location, bool overwrite = true, CancellationToken cancellationToken = default) =>
        OpenWriteAsync(SmbPath.Parse(location), overwrite, cancellationToken);

    /// <summary>Lists a directory (not recursive). "." and ".." are left out.</summary>
    public IAsyncEnumerable<SmbFileInfo> ListAsync(string location, string pattern = "*", CancellationToken cancellationToken = default) =>
        ListAsync(SmbPath.Parse(location), pattern, cancellationToken);

    public Task<SmbFileInfo> GetInfoAsync(string location, CancellationToken cancellationToken = default) =>
        GetInfoAsync(SmbPath.Parse(location), cancellationToken);

    public Task DeleteFileAsync(string location, CancellationToken cancellationToken = default) =>
        DeleteFileAsync(SmbPath.Parse(location), cancellationToken);

    public Task CreateDirectoryAsync(string location, CancellationToken cancellationToken = default) =>
        CreateDirectoryAsync(SmbPath.Parse(location), cancellationToken);

    public Task DeleteDirectoryAsync(string location, CancellationToken cancellationToken = default) =>
        DeleteDirectoryAsync(SmbPath.Parse(location), cancellationToken);

    /// <summary>Renames or moves within one share. <paramref name="newPath"/> is a path inside the share or a full location on the same share.</summary>
    public Task RenameAsync(string location, string newPath, bool replaceIfExists = false, CancellationToken cancellationToken = default) =>
        RenameAsync(SmbPath.Parse(location), newPath, replaceIfExists, cancellationToken);

    /// <summary>Copies <paramref name="source"/> into a new remote file; returns the bytes written.</summary>
    public Task<long> UploadAsync(Stream source, string location, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        UploadAsync(source, SmbPath.Parse(location), progress, cancellationToken);

    /// <summary>Copies a remote file into <paramref name="destination"/>; returns the bytes read.</summary>
    public Task<long> DownloadAsync(string location, Stream destination, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadAsync(SmbPath.Parse(location), destination, progress, cancellationToken);

    /// <summary>Copies a remote file into the local file <paramref name="localPath"/>, never destroying a device, FIFO or link there; returns the bytes read.</summary>
    public Task<long> DownloadFileAsync(string location, string localPath, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadFileAsync(SmbPath.Parse(location), localPath, progress, cancellationToken);

    /// <summary>Sets a file's or directory's times; a null argument leaves that time unchanged.</summary>
    public Task SetTimesAsync(string location, DateTimeOffset? creationTime = null, DateTimeOffset? lastAccessTime = null,
        DateTimeOffset? lastWriteTime = null, CancellationToken cancellationToken = default) =>
        SetTimesAsync(SmbPath.Parse(location), creationTime, lastAccessTime, lastWriteTime, cancellationToken);

    public Task<SmbFileSystemInfo> GetFileSystemInfoAsync(string location, CancellationToken cancellationToken = default) =>
        GetFileSystemInfoAsync(SmbPath.Parse(location), cancellationToken);

    /// <summary>The dialect negotiated with the server of <paramref name="location"/> (connects if needed).</summary>
    public Task<SmbDialect> GetDialectAsync(string location, CancellationToken cancellationToken = default) =>
        GetDialectAsync(SmbPath.Parse(location), cancellationToken);

    /// <summary>
    /// Runs <paramref name="operation"/> as the span <paramref name="name"/> on <paramref name="path"/>
    /// (<see cref="SmbTelemetry"/>), failed if it throws; a plain call while nobody listens.
    /// </summary>
    private static Task<T> Traced<T>(string name, SmbPath path, Func<Task<T>> operation) =>
        SmbInstruments.Source.HasListeners()
            ? SmbInstruments.TraceAsync(name, path.Host, path.Port, span =>
            {
                SmbInstruments.TagLocation(span, path.Share, path.Path);
                return operation();
            })
            : operation();

    /// <inheritdoc cref="Traced{T}(string, SmbPath, Func{Task{T}})"/>
    private static Task Traced(string name, SmbPath path, Func<Task> operation) =>
        SmbInstruments.Source.HasListeners()
            ? SmbInstruments.TraceAsync(name, path.Host, path.Port, async span =>
            {
                SmbInstruments.TagLocation(span, path.Share, path.Path);
                await operation().ConfigureAwait(false);
                return true;
            })
            : operation();
}
