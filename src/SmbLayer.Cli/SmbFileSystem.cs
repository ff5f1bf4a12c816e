namespace SmbLayer.Cli;

/// <summary>
/// The few <see cref="SmbClient"/> operations the commands use. It exists so the command
/// logic can be tested with a fake, without a server; <see cref="SmbClientFileSystem"/> is
/// the only real implementation and adds nothing.
/// </summary>
internal interface ISmbFileSystem : IAsyncDisposable
{
    IAsyncEnumerable<SmbFileInfo> ListAsync(SmbPath path, string pattern, CancellationToken cancellationToken);
    Task<SmbFileInfo> GetInfoAsync(SmbPath path, CancellationToken cancellationToken);
    /// <param name="progress">Bytes written so far (a FileStream destination is written past the stream on Linux, so wrapping it would not see them).</param>
    Task<long> DownloadAsync(SmbPath path, Stream destination, IProgress<long>? progress, CancellationToken cancellationToken);
    /// <summary>Into a local path by the rules of <see cref="SmbClient.DownloadFileAsync(SmbPath, string, IProgress{long}?, CancellationToken)"/>.</summary>
    Task<long> DownloadFileAsync(SmbPath path, string localPath, IProgress<long>? progress, CancellationToken cancellationToken);
    Task<long> UploadAsync(Stream source, SmbPath path, CancellationToken cancellationToken);
    Task DeleteFileAsync(SmbPath path, CancellationToken cancellationToken);
    Task CreateDirectoryAsync(SmbPath path, CancellationToken cancellationToken);
    Task DeleteDirectoryAsync(SmbPath path, CancellationToken cancellationToken);

    /// <param name="newPath">Path inside the share, '/' separated, no leading slash.</param>
    Task RenameAsync(SmbPath path, string newPath, CancellationToken cancellationToken);

    Task<SmbDirectoryTransfer> UploadDirectoryAsync(string localDirectory, SmbPath path, CancellationToken cancellationToken);

    Task<SmbDirectoryTransfer> DownloadDirectoryAsync(SmbPath path, string localDirectory, CancellationToken cancellationToken);

    Task<IReadOnlyList<SmbShareInfo>> ListSharesAsync(SmbPath server, CancellationToken cancellationToken);

    /// <summary>Mounts <paramref name="root"/> and serves it until unmounted or cancelled (then unmounts).</summary>
    Task MountAsync(SmbPath root, string mountPoint, bool readOnly, string device, Action mounted, CancellationToken cancellationToken);
}

internal sealed class SmbClientFileSystem(SmbClient client) : ISmbFileSystem
{
    public static ISmbFileSystem Create(SmbClientOptions options) => new SmbClientFileSystem(new SmbClient(options));

    public IAsyncEnumerable<SmbFileInfo> ListAsync(SmbPath path, string pattern, CancellationToken cancellationToken) =>
        client.ListAsync(path, pattern, cancellationToken);

    public Task<SmbFileInfo> GetInfoAsync(SmbPath path, CancellationToken cancellationToken) =>
        client.GetInfoAsync(path, cancellationToken);

    public Task<long> DownloadAsync(SmbPath path, Stream destination, IProgress<long>? progress, CancellationToken cancellationToken) =>
        client.DownloadAsync(path, destination, progress, cancellationToken);

    public Task<long> DownloadFileAsync(SmbPath path, string localPath, IProgress<long>? progress, CancellationToken cancellationToken) =>
        client.DownloadFileAsync(path, localPath, progress, cancellationToken);

    public Task<long> UploadAsync(Stream source, SmbPath path, CancellationToken cancellationToken) =>
        client.UploadAsync(source, path, progress: null, cancellationToken);

    public Task DeleteFileAsync(SmbPath path, CancellationToken cancellationToken) =>
        client.DeleteFileAsync(path, cancellationToken);

    public Task CreateDirectoryAsync(SmbPath path, CancellationToken cancellationToken) =>
        client.CreateDirectoryAsync(path, cancellationToken);

    public Task DeleteDirectoryAsync(SmbPath path, CancellationToken cancellationToken) =>
        client.DeleteDirectoryAsync(path, cancellationToken);

    public Task RenameAsync(SmbPath path, string newPath, CancellationToken cancellationToken) =>
        client.RenameAsync(path, newPath, replaceIfExists: false, cancellationToken);

    public Task<IReadOnlyList<SmbShareInfo>> ListSharesAsync(SmbPath server, CancellationToken cancellationToken) =>
        client.ListSharesAsync(server, cancellationToken);

    public Task MountAsync(SmbPath root, string mountPoint, bool readOnly, string device, Action mounted, CancellationToken cancellationToken) =>
        SmbMount.RunAsync(client, root, mountPoint, new SmbMountOptions { ReadOnly = readOnly, Device = device }, mounted, cancellationToken);

    public Task<SmbDirectoryTransfer> UploadDirectoryAsync(string localDirectory, SmbPath path, CancellationToken cancellationToken) =>
        client.UploadDirectoryAsync(localDirectory, path, SmbClient.DefaultTransferConcurrency, cancellationToken);

    public Task<SmbDirectoryTransfer> DownloadDirectoryAsync(SmbPath path, string localDirectory, CancellationToken cancellationToken) =>
        client.DownloadDirectoryAsync(path, localDirectory, SmbClient.DefaultTransferConcurrency, cancellationToken);

    public ValueTask DisposeAsync() => client.DisposeAsync();
}
