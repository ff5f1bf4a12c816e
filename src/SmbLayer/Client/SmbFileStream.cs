using System.Buffers;
using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer.Client;

/// <summary>
/// A <see cref="Stream"/> over an open SMB file. Sequential reads keep several READ requests
/// in flight (read-ahead); each answer stays in the transport's pooled receive buffer until the
/// caller has taken its bytes (one copy, into the caller's buffer; none for
/// <see cref="CopyToAsync(Stream, IProgress{long}?, CancellationToken)"/>). Writes are gathered into chunks of the negotiated size and several
/// WRITEs kept in flight (write-behind). A failed write is never lost silently: it surfaces on
/// the next Write, on Flush, or on Dispose, and the bytes it carried count as not written.
/// </summary>
internal sealed class SmbFileStream : Stream
{
    private readonly SmbOpen _open;
    private readonly TreeLease _lease;
    private readonly bool _canRead;
    private readonly bool _canWrite;
    private readonly int _depth;
    private readonly int _maxReadChunk;
    private readonly int _maxWriteChunk;
    private readonly int _maxFileWriteChunk;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Queue<ReadChunk> _readAhead = new();
    private readonly Queue<Task> _writes = new();
    private long _position;
    private long _length;
    private long _nextReadOffset;
    private byte[]? _writeBuffer;
    private int _writeCount;
    private int _writeTarget;
    private long _writeBufferOffset;
    private Exception? _writeFailure;
    private bool _closed;
    private DownloadFile? _download;

    /// <summary>Every request of the stream runs under the call options <paramref name="open"/> was created with (<see cref="SmbOpen.Call"/>).</summary>
    public SmbFileStream(SmbOpen open, TreeLease lease, bool canRead, bool canWrite, SmbClientOptions options)
    {
        _open = open;
        _lease = lease;
        _canRead = canRead;
        _canWrite = canWrite;
        _length = open.EndOfFile;
        _depth = Math.Max(1, options.MaxRequestsInFlightPerStream);
        _maxReadChunk = Math.Max(4096, Math.Min(open.MaxReadSize, options.MaxIoSize));
        _maxWriteChunk = Math.Max(4096, Math.Min(open.MaxWriteSize, options.MaxIoSize));
        _maxFileWriteChunk = Math.Max(4096, Math.Min(open.MaxWriteSize, options.MaxWriteSizeFromFile));
    }

    /// <summary>
    /// Size of the next READ or WRITE: the negotiated maximum, but never more credits than the
    /// server has ever granted at once (less one for echo), so a request can always be sent. Samba
    /// grants credits as they are asked for, so chunks grow to the full size after a few requests.
    /// </summary>
    private int ChunkSize(int max)
    {
        var creditCap = 65536L * Math.Clamp(_open.Tree.Connection.CreditHighWaterMark - 1, 1, 1024);
        return (int)Math.Max(4096, Math.Min(max, creditCap));
    }

    /// <summary>Size of the next WRITE: <see cref="ChunkSize"/>, and no more than leaves within half the probe delay at the measured send rate.</summary>
    private int WriteChunkSize(int max) => ChunkSize(Math.Min(max, _open.Tree.Connection.WriteSizeLimit));

    public override bool CanRead => _canRead && !_closed;
    public override bool CanWrite => _canWrite && !_closed;
    public override bool CanSeek => !_closed;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    // ---- reading ----

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        if (!_canRead)
        {
            throw new NotSupportedException("The stream was not opened for reading.");
        }
        if (buffer.Length == 0)
        {
            return 0;
        }
        await FlushWritesAsync(cancellationToken).ConfigureAwait(false);
        var chunk = await NextChunkAsync(cancellationToken).ConfigureAwait(false);
        if (chunk is null)
        {
            return 0;
        }
        var n = Math.Min(buffer.Length, chunk.Available);
        chunk.Data.Data.Span.Slice(chunk.Consumed, n).CopyTo(buffer.Span);
        Consume(chunk, n);
        return n;
    }

    /// <summary>
    /// Streams the rest of the file into <paramref name="destination"/> straight from the read-ahead
    /// buffers; into a local file on Linux, past user memory where the connection allows (see
    /// <see cref="CopyToFileAsync"/>).
    /// </summary>
    public async Task<long> CopyToAsync(Stream destination, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        if (destination is FileStream file)
        {
            // The session layer takes the data past this process where it can (a plain local file on Linux).
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (DownloadFile.TryOpen(file, _position) is { } download)
            {
                return await CopyToFileAsync(file, download, progress, cancellationToken).ConfigureAwait(false);
            }
        }
        long total = 0;
        while (await NextChunkAsync(cancellationToken).ConfigureAwait(false) is { } chunk)
        {
            var n = chunk.Available;
            await destination.WriteAsync(chunk.Data.Data.Slice(chunk.Consumed, n), cancellationToken).ConfigureAwait(false);
            Consume(chunk, n);
            total += n;
            progress?.Report(total);
        }
        return total;
    }

    public override Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken) =>
        CopyToAsync(destination, null, cancellationToken);

    /// <summary>
    /// Downloads into a local file with every READ a <see cref="FileRead"/> of <paramref name="download"/>: where the
    /// transport can, the data moves from the socket into the file inside the kernel and never through this
    /// process's memory; other answers arrive as usual and are written here at their offset. READs stay in flight
    /// as for any read-ahead, and complete in order. On any way out (end, error, cancellation), the reads still in
    /// flight are detached before this returns, so nothing lands in the file afterwards.
    /// </summary>
    private async Task<long> CopyToFileAsync(FileStream destination, DownloadFile download, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        DiscardReadAhead();
        _download = download;
        long total = 0;
        try
        {
            while (await NextChunkAsync(cancellationToken).ConfigureAwait(false) is { } chunk)
            {
                var n = chunk.Available;
                if (!chunk.Data.InFile)
                {
                    await download.WriteAsync(chunk.Data.Data.Slice(chunk.Consumed, n), _position, cancellationToken).ConfigureAwait(false);
                }
                Consume(chunk, n);
                total += n;
                progress?.Report(total);
            }
            destination.Position = download.FileBase + _position;
        }
        finally
        {
            _download = null;
            DiscardReadAhead();
            download.Dispose();
        }
        return total;
    }

    /// <summary>A read nobody will consume (its sink detached): lets its buffer go once it is answered.</summary>
    private static async Task ReleaseWhenAnsweredAsync(ReadChunk chunk)
    {
        try
        {
            chunk.Data = await chunk.Request.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Its error does not matter any more.
        }
        chunk.Release();
    }

    /// <summary>The chunk holding <see cref="_position"/>, with read-ahead topped up; null at end of file.</summary>
    private async Task<ReadChunk?> NextChunkAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_readAhead.TryPeek(out var head) && head.Offset + head.Consumed != _position)
            {
                DiscardReadAhead();
            }
            if (_readAhead.Count == 0)
            {
                _nextReadOffset = _position;
            }
            TopUpReadAhead();
            head = _readAhead.Peek();
            try
            {
                head.Data = await head.Request.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch
            {
                DiscardReadAhead();
                throw;
            }
            if (head.Received == 0)
            {
                // End of file (or a file that shrank): drop what was read ahead past it.
                DiscardReadAhead();
                _length = Math.Max(_length, _position);
                return null;
            }
            if (head.Available > 0)
            {
                return head;
            }
            // Fully consumed earlier (cannot happen: consumed chunks are dequeued); go round.
            _readAhead.Dequeue().Release();
        }
    }

    private void TopUpReadAhead()
    {
        // Issue reads up to the known end of file; at or past it, one read finds out whether the file grew.
        while (_readAhead.Count < _depth && (_readAhead.Count == 0 || _nextReadOffset < _length))
        {
            var length = ChunkSize(_maxReadChunk);
            var chunk = new ReadChunk(_nextReadOffset, length);
            if (_download is { } download)
            {
                chunk.IntoFile = download.Read(_open, chunk.Offset, length, _lifetime.Token);
                chunk.Request = chunk.IntoFile.Answer;
            }
            else
            {
                chunk.Request = _open.ReadBufferAsync(chunk.Offset, length, _lifetime.Token);
            }
            _readAhead.Enqueue(chunk);
            _nextReadOffset += length;
        }
    }

    private void Consume(ReadChunk chunk, int count)
    {
        chunk.Consumed += count;
        _position += count;
        if (chunk.Available == 0)
        {
            _readAhead.Dequeue();
            chunk.Release();
            if (chunk.Received < chunk.Requested)
            {
                // Short read: later chunks were asked at offsets that no longer follow; NextChunk restarts from _position.
                _length = Math.Max(_length, _position);
            }
        }
    }

    /// <summary>
    /// Drops the read-ahead, which nobody will consume. Never waits for it: a read still in flight lets
    /// its buffer go when it is answered. In hard mode during an outage that can be much later, and a
    /// seek, a write or a close must not wait for data it throws away.
    /// </summary>
    private void DiscardReadAhead()
    {
        while (_readAhead.TryDequeue(out var chunk))
        {
            chunk.IntoFile?.Detach();
            _ = ReleaseWhenAnsweredAsync(chunk);
        }
    }

    /// <summary>One READ in flight or answered; its data stays in the response buffer until consumed.</summary>
    private sealed class ReadChunk(long offset, int requested)
    {
        public long Offset { get; } = offset;
        public int Requested { get; } = requested;
        public Task<ReadData> Request { get; set; } = Task.FromResult(default(ReadData));

        /// <summary>The read when its data may go straight into a local file (<see cref="CopyToFileAsync"/>); null for ordinary read-ahead.</summary>
        public FileRead? IntoFile { get; set; }
        public ReadData Data { get; set; }
        public int Received => Data.Length;
        public int Consumed { get; set; }
        public int Available => Received - Consumed;

        public void Release()
        {
            Data.Dispose();
            Data = default;
        }
    }

    // ---- writing ----

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream was not opened for writing.");
        }
        ThrowIfWriteFailed();
        if (_readAhead.Count > 0)
        {
            DiscardReadAhead();
        }
        while (buffer.Length > 0)
        {
            if (_writeBuffer is null)
            {
                _writeTarget = WriteChunkSize(_maxWriteChunk);
                _writeBuffer = ArrayPool<byte>.Shared.Rent(_writeTarget);
                _writeCount = 0;
                _writeBufferOffset = _position;
            }
            var n = Math.Min(buffer.Length, _writeTarget - _writeCount);
            buffer.Span[..n].CopyTo(_writeBuffer.AsSpan(_writeCount));
            _writeCount += n;
            _position += n;
            _length = Math.Max(_length, _position);
            buffer = buffer[n..];
            if (_writeCount == _writeTarget)
            {
                await SubmitWriteBufferAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Uploads the rest of <paramref name="source"/>, reading it straight into write chunks; from a
    /// local file on Linux, straight from the file to the socket where the connection allows (see
    /// <see cref="CopyFromFileAsync"/>).
    /// </summary>
    public async Task<long> CopyFromAsync(Stream source, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        await SubmitWriteBufferAsync(cancellationToken).ConfigureAwait(false);
        var total = 0L;
        if (UploadFile.TryOpen(source, _open) is { } upload)
        {
            total = await CopyFromFileAsync((FileStream)source, upload, progress, cancellationToken).ConfigureAwait(false);
        }
        // The rest as usual: a source that is not a local file, or what a local file grew by meanwhile.
        while (true)
        {
            var size = WriteChunkSize(_maxWriteChunk);
            var buffer = ArrayPool<byte>.Shared.Rent(size);
            int n;
            try
            {
                n = await source.ReadAtLeastAsync(buffer.AsMemory(0, size), size, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
            if (n == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                break;
            }
            await SubmitWriteAsync(buffer, _position, n, cancellationToken).ConfigureAwait(false);
            _position += n;
            _length = Math.Max(_length, _position);
            total += n;
            progress?.Report(total);
        }
        await FlushWritesAsync(cancellationToken).ConfigureAwait(false);
        return total;
    }

    /// <summary>
    /// Uploads <paramref name="source"/> from its position to the length it has now, each WRITE's data a
    /// <see cref="FileSpan"/> of <paramref name="upload"/> that the transport sends from the page cache to the
    /// socket without a copy through this process (two copies fewer than read + send). WRITEs stay in flight as
    /// for any write-behind; the source's position ends where the upload stopped.
    /// </summary>
    private async Task<long> CopyFromFileAsync(FileStream source, UploadFile upload, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        long total = 0;
        try
        {
            var at = source.Position;
            var end = source.Length;
            while (at < end)
            {
                var n = (int)Math.Min(WriteChunkSize(_maxFileWriteChunk), end - at);
                await SubmitFileWriteAsync(upload.Take(at, n), _position, cancellationToken).ConfigureAwait(false);
                at += n;
                _position += n;
                _length = Math.Max(_length, _position);
                total += n;
                progress?.Report(total);
            }
            source.Position = at;
        }
        finally
        {
            upload.Release();
        }
        return total;
    }

    /// <summary>Queues a WRITE of <paramref name="span"/> (owned from here on), first waiting for the oldest when the pipeline is full.</summary>
    private async Task SubmitFileWriteAsync(FileSpan span, long offset, CancellationToken cancellationToken)
    {
        try
        {
            await WaitForWriteSlotAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            span.Release();
            throw;
        }
        _writes.Enqueue(WriteChunkAsync(new FileChunk(span), offset));
    }

    private async Task SubmitWriteBufferAsync(CancellationToken cancellationToken)
    {
        if (_writeBuffer is null || _writeCount == 0)
        {
            return;
        }
        var buffer = _writeBuffer;
        _writeBuffer = null;
        await SubmitWriteAsync(buffer, _writeBufferOffset, _writeCount, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues one chunk (owned from here on) as a WRITE, first waiting for the oldest when the pipeline is full.</summary>
    private async Task SubmitWriteAsync(byte[] buffer, long offset, int count, CancellationToken cancellationToken)
    {
        try
        {
            await WaitForWriteSlotAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        _writes.Enqueue(WriteChunkAsync(new BufferChunk(buffer, count), offset));
    }

    /// <summary>Waits for the oldest WRITEs while the pipeline is full, then throws if any WRITE so far has failed.</summary>
    private async Task WaitForWriteSlotAsync(CancellationToken cancellationToken)
    {
        while (_writes.Count >= _depth)
        {
            await _writes.Dequeue().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        ThrowIfWriteFailed();
    }

    /// <summary>Writes all of <paramref name="chunk"/> at <paramref name="offset"/>, a short write's rest in further requests, then lets go of it.</summary>
    private async Task WriteChunkAsync<TChunk>(TChunk chunk, long offset)
        where TChunk : IWriteChunk
    {
        try
        {
            var done = 0;
            while (done < chunk.Length)
            {
                var n = await chunk.WriteRestAsync(_open, offset + done, done, _lifetime.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new SmbProtocolException($"Server accepted 0 bytes writing '{_open.Name}' at offset {offset + done}.");
                }
                done += n;
            }
        }
        catch (Exception ex)
        {
            // Remember the first failure: the bytes from this chunk on are not known to be written.
            Interlocked.CompareExchange(ref _writeFailure, ex, null);
        }
        finally
        {
            chunk.Release();
        }
    }

    /// <summary>
    /// The data of one write-behind chunk, as <see cref="WriteChunkAsync"/> sends it. Structs, so the
    /// shared loop is compiled for each kind and costs no allocation per chunk.
    /// </summary>
    private interface IWriteChunk
    {
        int Length { get; }

        /// <summary>Sends the chunk's bytes from <paramref name="done"/> on, at <paramref name="offset"/> in the file, in one WRITE; returns the count the server took.</summary>
        Task<int> WriteRestAsync(SmbOpen open, long offset, int done, CancellationToken cancellationToken);

        /// <summary>The chunk is written, or failed for good.</summary>
        void Release();
    }

    /// <summary>Bytes in a pooled buffer, returned to the pool at the end.</summary>
    private readonly struct BufferChunk(byte[] buffer, int count) : IWriteChunk
    {
        public int Length => count;

        public Task<int> WriteRestAsync(SmbOpen open, long offset, int done, CancellationToken cancellationToken) =>
            open.WriteAsync(offset, buffer.AsMemory(done, count - done), cancellationToken);

        public void Release() => ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>A span of a local file, sent from the file; after a short write the rest goes as a span of its own.</summary>
    private readonly struct FileChunk(FileSpan span) : IWriteChunk
    {
        public int Length => span.Length;

        public Task<int> WriteRestAsync(SmbOpen open, long offset, int done, CancellationToken cancellationToken) =>
            span.WriteAsync(open, offset, done, cancellationToken);

        public void Release() => span.Release();
    }

    private async Task FlushWritesAsync(CancellationToken cancellationToken)
    {
        if (_writeBuffer is null && _writes.Count == 0)
        {
            ThrowIfWriteFailed();
            return;
        }
        await SubmitWriteBufferAsync(cancellationToken).ConfigureAwait(false);
        while (_writes.TryDequeue(out var write))
        {
            await write.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        ThrowIfWriteFailed();
    }

    private void ThrowIfWriteFailed()
    {
        if (_writeFailure is { } failure)
        {
            throw failure switch
            {
                SmbException e => new IOException($"Data written to '{_open.Name}' was not acknowledged by the server and is not known to be written: {e.Message}", e),
                _ => new IOException($"Data written to '{_open.Name}' is not known to be written: {failure.Message}", failure),
            };
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Sends buffered data, waits for every WRITE to be acknowledged, then asks the server to flush to stable storage.</summary>
    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        if (!_canWrite)
        {
            return;
        }
        await FlushWritesAsync(cancellationToken).ConfigureAwait(false);
        await _open.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    // ---- positioning ----

    public override long Seek(long offset, SeekOrigin origin)
    {
        ThrowIfClosed();
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        ArgumentOutOfRangeException.ThrowIfNegative(target, nameof(offset));
        if (target != _position && _writeBuffer is not null)
        {
            // Buffered bytes belong at their own offset; hand them to the pipeline before moving.
            SubmitWriteBufferAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        _position = target;
        return _position;
    }

    public override void SetLength(long value)
    {
        ThrowIfClosed();
        if (!_canWrite)
        {
            throw new NotSupportedException("The stream was not opened for writing.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        FlushWritesAsync(CancellationToken.None).GetAwaiter().GetResult();
        _open.SetInfoAsync(FileInformationClass.FileEndOfFileInformation, FileInfoBuilders.EndOfFile(value),
            $"Setting the size of '{_open.Name}'", CancellationToken.None).GetAwaiter().GetResult();
        _length = value;
    }

    // ---- closing ----

    /// <summary>Completes all writes and closes the handle, throwing if any data was not acknowledged.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (_closed)
        {
            return;
        }
        try
        {
            if (_canWrite)
            {
                await FlushWritesAsync(cancellationToken).ConfigureAwait(false);
            }
            DiscardReadAhead();
            await _open.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
    }

    private async Task ReleaseAsync()
    {
        if (_closed)
        {
            return;
        }
        _closed = true;
        _lifetime.Cancel();
        DiscardReadAhead();
        while (_writes.TryDequeue(out var write))
        {
            await write.ConfigureAwait(false);
        }
        if (_writeBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_writeBuffer);
            _writeBuffer = null;
        }
        await _open.DisposeAsync().ConfigureAwait(false);
        _lease.Dispose();
        _lifetime.Dispose();
    }

    public override async ValueTask DisposeAsync()
    {
        await DisposeCoreAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeCoreAsync().GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Dispose takes no token, so it must not wait on a server out of reach: in hard mode that would be
    /// for ever, after the caller had perhaps already cancelled. With nothing left to commit (a read-only
    /// stream, or every WRITE acknowledged) the CLOSE goes without replay: answered (a CLOSE the server
    /// fails is still reported), failed as soon as the connection is lost, or given up after 30 s. A
    /// handle whose CLOSE was not answered stays with its tree: the next recovery reclaims it and
    /// closes it (SEMANTICS, "Disposed during an outage"). Data not yet acknowledged still goes through
    /// <see cref="CloseAsync"/>, which waits as the mode says; a caller who must bound that calls
    /// CloseAsync with a token first.
    /// </summary>
    private async Task DisposeCoreAsync()
    {
        if (_closed || !NothingToCommit)
        {
            await CloseAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }
        try
        {
            DiscardReadAhead();
            await _open.CloseWithoutReplayAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Read-only, or every WRITE answered, none failed and nothing buffered: closing the handle loses no
    /// data. (A WRITE records its failure before it completes, so completion is checked first.)
    /// </summary>
    private bool NothingToCommit =>
        !_canWrite || (_writes.All(w => w.IsCompleted) && Volatile.Read(ref _writeFailure) is null && (_writeBuffer is null || _writeCount == 0));

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(_closed, this);
}
