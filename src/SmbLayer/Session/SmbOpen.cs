using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>An open handle on a tree (MS-SMB2 Open) and the I/O on it.</summary>
internal sealed class SmbOpen : IAsyncDisposable
{
    private int _closed;

    public SmbOpen(SmbTree tree, string name, CreateResponse response)
    {
        Tree = tree;
        Name = name;
        FileId = response.FileId;
        CreateResponse = response;
        EndOfFile = response.EndOfFile;
        LeaseKey = response.Lease?.LeaseKey;
        if (response.OplockLevel != OplockLevel.None)
        {
            Tree.Breaks?.Track(this);
        }
    }

    /// <summary>Lease key when the server granted a lease.</summary>
    public Guid? LeaseKey { get; }

    /// <summary>Status of the last break acknowledgment (diagnostics and tests).</summary>
    public NtStatus? LastBreakAcknowledgment { get; private set; }

    internal void OnBreakAcknowledged(NtStatus status) => LastBreakAcknowledgment = status;

    public SmbTree Tree { get; }
    public string Name { get; }
    public Smb2FileId FileId { get; }
    public CreateResponse CreateResponse { get; }
    public bool IsDirectory => (CreateResponse.FileAttributes & FileAttributes.Directory) != 0;

    /// <summary>File size at open time.</summary>
    public long EndOfFile { get; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    private SmbConnection Connection => Tree.Connection;

    /// <summary>Largest single READ this connection allows.</summary>
    public int MaxReadSize => Connection.Negotiated!.SupportsLargeMtu ? Connection.Negotiated.MaxReadSize : Math.Min(65536, Connection.Negotiated.MaxReadSize);

    /// <summary>Largest single WRITE this connection allows.</summary>
    public int MaxWriteSize => Connection.Negotiated!.SupportsLargeMtu ? Connection.Negotiated.MaxWriteSize : Math.Min(65536, Connection.Negotiated.MaxWriteSize);

    /// <summary>Reads up to <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; 0 at end of file.</summary>
    public async Task<int> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        if (destination.Length == 0)
        {
            return 0;
        }
        var request = new ReadRequest(FileId, offset, destination.Length);
        using var response = await Connection.SendAsync(request, Tree.Context, cancellationToken).ConfigureAwait(false);
        if (response.Status == NtStatus.EndOfFile)
        {
            return 0;
        }
        response.ThrowIfFailed($"Reading '{Name}' at offset {offset}");
        var parsed = ReadResponse.Parse(response.Message);
        if (parsed.DataLength > destination.Length)
        {
            throw new SmbProtocolException($"READ returned {parsed.DataLength} bytes for a request of {destination.Length}.");
        }
        response.Message[parsed.DataRange].CopyTo(destination.Span);
        return parsed.DataLength;
    }

    /// <summary>
    /// Reads up to <paramref name="length"/> bytes at <paramref name="offset"/> and hands over the
    /// response buffer itself (no copy): the caller owns the result and disposes it once done
    /// with <see cref="ReadData.Data"/>. End of file is an empty result.
    /// </summary>
    public async Task<ReadData> ReadBufferAsync(long offset, int length, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var request = new ReadRequest(FileId, offset, length);
        var response = await Connection.SendAsync(request, Tree.Context, cancellationToken).ConfigureAwait(false);
        try
        {
            return ToReadData(response, length, $"Reading '{Name}' at offset {offset}");
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>Checks a READ response and wraps its data; takes ownership of <paramref name="response"/> on success.</summary>
    internal static ReadData ToReadData(SmbResponse response, int requested, string what)
    {
        if (response.Status == NtStatus.EndOfFile)
        {
            response.Dispose();
            return default;
        }
        response.ThrowIfFailed(what);
        var parsed = ReadResponse.Parse(response.Message);
        if (parsed.DataLength > requested)
        {
            throw new SmbProtocolException($"READ returned {parsed.DataLength} bytes for a request of {requested}.");
        }
        return new ReadData(response, parsed.DataOffset, parsed.DataLength);
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> in one request; returns the count the server took.</summary>
    public async Task<int> WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var request = new WriteRequest(FileId, offset, data);
        using var response = await Connection.SendAsync(request, Tree.Context, cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed($"Writing '{Name}' at offset {offset}");
        var parsed = WriteResponse.Parse(response.Message);
        if (parsed.Count > data.Length)
        {
            throw new SmbProtocolException($"WRITE acknowledged {parsed.Count} bytes for a request of {data.Length}.");
        }
        return (int)parsed.Count;
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        using var response = await Connection.SendAsync(new FlushRequest(FileId), Tree.Context, cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed($"Flushing '{Name}'");
    }

    /// <summary>
    /// One QUERY_DIRECTORY round trip; returns the entries, or an empty list at the end
    /// (STATUS_NO_MORE_FILES). The first call should pass <paramref name="restart"/>.
    /// </summary>
    public async Task<List<DirectoryEntry>> QueryDirectoryAsync(string pattern, int outputBufferLength, bool restart, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var request = new QueryDirectoryRequest(FileId, pattern, FileInformationClass.FileIdBothDirectoryInformation, outputBufferLength)
        {
            Flags = restart ? QueryDirectoryFlags.RestartScans : 0,
        };
        using var response = await Connection.SendAsync(request, Tree.Context, cancellationToken).ConfigureAwait(false);
        // NO_MORE_FILES ends a listing; NO_SUCH_FILE on the first call means the pattern matched nothing.
        if (response.Status == NtStatus.NoMoreFiles || (restart && response.Status == NtStatus.NoSuchFile))
        {
            return [];
        }
        response.ThrowIfFailed($"Listing '{Name}'");
        var parsed = QueryDirectoryResponse.Parse(response.Message);
        return DirectoryEntryParser.Parse(response.Message[parsed.OutputBufferRange], FileInformationClass.FileIdBothDirectoryInformation);
    }

    /// <summary>QUERY_INFO; <paramref name="parse"/> reads the output buffer while the response is alive.</summary>
    public async Task<T> QueryInfoAsync<T>(QueryInfoRequest request, Func<ReadOnlySpan<byte>, T> parse, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        using var response = await Connection.SendAsync(request, Tree.Context, cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed($"Querying information of '{Name}'");
        var parsed = QueryInfoResponse.Parse(response.Message);
        return parse(response.Message[parsed.OutputBufferRange]);
    }

    public async Task SetInfoAsync(FileInformationClass infoClass, byte[] buffer, string what, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        using var response = await Connection.SendAsync(SetInfoRequest.ForFile(FileId, infoClass, buffer), Tree.Context, cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed(what);
    }

    /// <summary>Closes the handle; errors are reported (the server may have failed to commit data).</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        Tree.Breaks?.Untrack(this);
        using var response = await Connection.SendAsync(new CloseRequest(FileId), Tree.Context, cancellationToken).ConfigureAwait(false);
        if (response.Status is not (NtStatus.Success or NtStatus.FileClosed))
        {
            response.ThrowIfFailed($"Closing '{Name}'");
        }
    }

    /// <summary>Closes quietly (used on error paths and by finalising code).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        Tree.Breaks?.Untrack(this);
        if (Connection.State == ConnectionState.Ready)
        {
            await Tree.CloseQuietlyAsync(FileId).ConfigureAwait(false);
        }
    }

    private void ThrowIfClosed()
    {
        if (IsClosed)
        {
            throw new ObjectDisposedException(nameof(SmbOpen), $"'{Name}' is closed.");
        }
    }
}

/// <summary>The data of one READ response, still in the transport's pooled buffer; dispose to return it.</summary>
internal readonly struct ReadData(SmbResponse? response, int offset, int length) : IDisposable
{
    public int Length => length;

    public ReadOnlyMemory<byte> Data => response is null ? ReadOnlyMemory<byte>.Empty : response.MessageMemory.Slice(offset, length);

    public void Dispose() => response?.Dispose();
}
