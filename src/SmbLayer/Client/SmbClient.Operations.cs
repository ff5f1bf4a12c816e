using SmbLayer.Protocol;

namespace SmbLayer;

// Implementations of the file API over the session layer.
public sealed partial class SmbClient
{
    public Task<Stream> OpenReadAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task<Stream> OpenWriteAsync(SmbPath path, bool overwrite = true, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public IAsyncEnumerable<SmbFileInfo> ListAsync(SmbPath path, string pattern = "*", CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task<SmbFileInfo> GetInfoAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task DeleteFileAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task CreateDirectoryAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task DeleteDirectoryAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task RenameAsync(SmbPath path, string newPath, bool replaceIfExists = false, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task<long> UploadAsync(Stream source, SmbPath path, IProgress<long>? progress = null, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task<long> DownloadAsync(SmbPath path, Stream destination, IProgress<long>? progress = null, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task<SmbFileSystemInfo> GetFileSystemInfoAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public Task<SmbDialect> GetDialectAsync(SmbPath path, CancellationToken cancellationToken = default) => throw new NotImplementedException();
    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
