using System.Buffers;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// The one writer: drains the send queue, serialises, signs and writes frames in MessageId order.
internal sealed partial class SmbConnection
{
    /// <summary>Small frames are coalesced into one socket write up to this size.</summary>
    private const int CoalesceLimit = 256 * 1024;

    /// <summary>WRITE data from a local file at least this long goes by sendfile (64 KiB: a whole WRITE on 2.0.2, which has no large MTU).</summary>
    private const int SendFileMinimum = 64 * 1024;

    private async Task WriteLoopAsync(Link link)
    {
        var stream = link.Stream;
        var queue = link.Queue.Reader;
        var cancellationToken = link.Cancellation.Token;
        var batch = new ArrayBufferWriter<byte>(CoalesceLimit);
        try
        {
            while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (queue.TryRead(out var item))
                {
                    var frameLength = FrameLength(item);
                    RecordNetworkIo(frameLength, received: false);
                    if (IsFromFile(item, out var range) && range.Length >= SendFileMinimum && link.Stream is System.Net.Sockets.NetworkStream network)
                    {
                        // Bulk WRITE, unsigned, whose data is in a local file: header from a small buffer, data by sendfile.
                        await FlushBatchAsync(stream, batch, cancellationToken).ConfigureAwait(false);
                        var headLength = frameLength - range.Length;
                        SerializeHead(item.Members![0], frameLength, batch.GetSpan(headLength)[..headLength]);
                        batch.Advance(headLength);
                        await SendWithFileAsync(link, network.Socket, batch.WrittenMemory, item.Members[0], range).ConfigureAwait(false);
                        batch.ResetWrittenCount();
                        Interlocked.Add(ref _bytesFromFiles, range.Length);
                        continue;
                    }
                    if (frameLength > CoalesceLimit && IsGatherable(item, out var payload))
                    {
                        // Bulk WRITE, unsigned: header and fixed part from a small buffer, then the data from the caller's memory.
                        await FlushBatchAsync(stream, batch, cancellationToken).ConfigureAwait(false);
                        var headLength = frameLength - payload.Length;
                        SerializeHead(item.Members![0], frameLength, batch.GetSpan(headLength)[..headLength]);
                        batch.Advance(headLength);
                        await FlushBatchAsync(stream, batch, cancellationToken).ConfigureAwait(false);
                        await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    if (frameLength > CoalesceLimit)
                    {
                        // Large frames (bulk writes) go straight from a pooled buffer.
                        await FlushBatchAsync(stream, batch, cancellationToken).ConfigureAwait(false);
                        var rented = ArrayPool<byte>.Shared.Rent(frameLength);
                        try
                        {
                            SerializeOrFail(link, item, rented.AsSpan(0, frameLength));
                            await stream.WriteAsync(rented.AsMemory(0, frameLength), cancellationToken).ConfigureAwait(false);
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(rented);
                        }
                        continue;
                    }
                    if (batch.WrittenCount + frameLength > CoalesceLimit)
                    {
                        await FlushBatchAsync(stream, batch, cancellationToken).ConfigureAwait(false);
                    }
                    SerializeOrFail(link, item, batch.GetSpan(frameLength)[..frameLength]);
                    batch.Advance(frameLength);
                }
                await FlushBatchAsync(stream, batch, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closed by the owner or after a failure.
        }
        catch (Exception ex)
        {
            LinkFailed(link, ex is IOException io ? new SmbConnectionException($"Sending to {Host}:{Port} failed: {io.Message}", io) : ex);
        }
    }

    private static async ValueTask FlushBatchAsync(Stream stream, ArrayBufferWriter<byte> batch, CancellationToken cancellationToken)
    {
        if (batch.WrittenCount == 0)
        {
            return;
        }
        await stream.WriteAsync(batch.WrittenMemory, cancellationToken).ConfigureAwait(false);
        batch.ResetWrittenCount();
    }

    private const int CancelBodySize = 4;

    private static int FrameLength(OutgoingItem item)
    {
        var overhead = DirectTcp.FrameHeaderSize + (TransformOf(item)?.Overhead ?? 0);
        if (item.Members is null)
        {
            return overhead + Smb2Header.Size + CancelBodySize;
        }
        var total = 0;
        for (var i = 0; i < item.Members.Length; i++)
        {
            var size = Smb2Header.Size + item.Members[i].Body.BodySize;
            total += i < item.Members.Length - 1 ? Align8(size) : size;
        }
        return overhead + total;
    }

    private static int Align8(int value) => (value + 7) & ~7;

    /// <summary>A lone request with a bulk payload and nothing that needs the whole message in one buffer (signing, encryption, pre-auth hash).</summary>
    private static bool IsGatherable(OutgoingItem item, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        if (item.Members is not [var m] || m.Context.Signer is not null || m.Context.Transform is not null || m.Context.OnSent is not null
            || m.Body is not ISmb2PayloadRequest p || p.Payload.IsEmpty || p.FixedPartSize + p.Payload.Length != m.Body.BodySize)
        {
            return false;
        }
        payload = p.Payload;
        return true;
    }

    /// <summary>A lone request whose payload is a local file range and needs no whole-message pass (signing, encryption, pre-auth hash).</summary>
    private static bool IsFromFile(OutgoingItem item, out FileRange range)
    {
        range = null!;
        if (item.Members is not [var m] || m.Context.Signer is not null || m.Context.Transform is not null || m.Context.OnSent is not null
            || m.Body is not ISmb2PayloadRequest { PayloadSource: FileRange r } p || p.FixedPartSize + r.Length != m.Body.BodySize)
        {
            return false;
        }
        range = r;
        return true;
    }

    /// <summary>
    /// Sends the head and then the range straight from the file (sendfile). A send cut short because
    /// the file no longer holds the range fails that request alone, with an <see cref="IOException"/>
    /// (repeating it could not help), and then the link: part of the frame may be on the wire.
    /// </summary>
    private static async Task SendWithFileAsync(Link link, System.Net.Sockets.Socket socket, ReadOnlyMemory<byte> head, PendingRequest request, FileRange range)
    {
        using var args = new System.Net.Sockets.SocketAsyncEventArgs();
        args.SendPacketsElements =
        [
            new System.Net.Sockets.SendPacketsElement(head),
            new System.Net.Sockets.SendPacketsElement(range.File.Stream, range.Offset, range.Length, endOfPacket: true),
        ];
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        args.Completed += (_, _) => done.TrySetResult();
        try
        {
            if (socket.SendPacketsAsync(args))
            {
                await done.Task.ConfigureAwait(false);
            }
        }
        catch (ObjectDisposedException) when (!range.FileHoldsRange())
        {
            // Reported below as the file's failure.
        }
        if (args.SocketError == System.Net.Sockets.SocketError.Success && args.BytesTransferred == head.Length + range.Length)
        {
            return;
        }
        if (!range.FileHoldsRange())
        {
            throw FailRequest(link, request, range.ShortFile(), cutShort: true);
        }
        throw new System.Net.Sockets.SocketException((int)args.SocketError);
    }

    /// <summary>Serialises <paramref name="item"/>; when its payload cannot be read from its local file, fails that request alone and then the link (its MessageId is spent).</summary>
    private void SerializeOrFail(Link link, OutgoingItem item, Span<byte> frame)
    {
        try
        {
            Serialize(item, frame);
        }
        catch (IOException ex) when (item.Members is [var m] && m.Body is ISmb2PayloadRequest { PayloadSource: not null })
        {
            throw FailRequest(link, m, ex, cutShort: false);
        }
    }

    /// <summary>
    /// Fails <paramref name="request"/> alone with <paramref name="cause"/> (a WRITE whose data could not be read
    /// from its local file) and returns the error that then drops the link: its MessageId is spent, and when
    /// <paramref name="cutShort"/> part of its frame may be on the wire.
    /// </summary>
    private static SmbConnectionException FailRequest(Link link, PendingRequest request, IOException cause, bool cutShort)
    {
        if (link.Pending.TryRemove(request.MessageId, out _))
        {
            request.SetState(RequestState.Failed);
            request.CancellationRegistration.Dispose();
            request.Completion.TrySetException(cause);
        }
        return new SmbConnectionException(cutShort ? $"A WRITE was cut short: {cause.Message}" : $"A WRITE could not be sent: {cause.Message}");
    }

    /// <summary>The Direct TCP header, the SMB2 header and the fixed part of a gathered request; the payload follows on the wire.</summary>
    private void SerializeHead(PendingRequest m, int frameLength, Span<byte> head)
    {
        DirectTcp.WriteFrameHeader(head, frameLength - DirectTcp.FrameHeaderSize);
        var message = head[DirectTcp.FrameHeaderSize..];
        NewHeader(m, nextCommand: 0).WriteTo(message);
        ((ISmb2PayloadRequest)m.Body).WriteFixedPart(message[Smb2Header.Size..]);
    }

    private Smb2Header NewHeader(PendingRequest m, uint nextCommand) => new()
    {
        CreditCharge = m.CreditCharge,
        Status = Negotiated?.Dialect.IsSmb3() == true ? m.Context.ChannelSequence : 0u,
        Command = m.Body.Command,
        Credits = m.CreditRequest,
        Flags = m.Context.Flags | m.ExtraFlags,
        NextCommand = nextCommand,
        MessageId = m.MessageId,
        TreeId = m.Context.TreeId,
        SessionId = m.Context.SessionId,
    };

    /// <summary>Writes one frame: the Direct TCP header then each message, padded and chained for compounds, then signed.</summary>
    private void Serialize(OutgoingItem item, Span<byte> frame)
    {
        DirectTcp.WriteFrameHeader(frame, frame.Length - DirectTcp.FrameHeaderSize);
        if (TransformOf(item) is { } transform)
        {
            SerializeEncrypted(item, transform, frame[DirectTcp.FrameHeaderSize..]);
            return;
        }
        SerializeMessages(item, frame[DirectTcp.FrameHeaderSize..]);
    }

    /// <summary>Writes the messages of one frame (no Direct TCP header): a CANCEL, or requests padded and chained for compounds, each signed.</summary>
    private void SerializeMessages(OutgoingItem item, Span<byte> messages)
    {
        if (item.Members is null)
        {
            WriteCancel(item.CancelTarget!, messages);
            return;
        }
        var offset = 0;
        for (var i = 0; i < item.Members.Length; i++)
        {
            var m = item.Members[i];
            var last = i == item.Members.Length - 1;
            var size = Smb2Header.Size + m.Body.BodySize;
            var span = last ? messages[offset..] : messages.Slice(offset, Align8(size));
            span[size..].Clear();
            NewHeader(m, last ? 0u : (uint)span.Length).WriteTo(span);
            m.Body.WriteBody(span.Slice(Smb2Header.Size, m.Body.BodySize));
            m.Context.Signer?.Sign(span);
            m.Context.OnSent?.Invoke(span);
            offset += span.Length;
        }
    }

    /// <summary>MS-SMB2 §3.2.4.24: CANCEL reuses the target's MessageId (or AsyncId) and consumes no credit.</summary>
    private static void WriteCancel(PendingRequest target, Span<byte> message)
    {
        var header = new Smb2Header
        {
            Command = Smb2Command.Cancel,
            MessageId = target.MessageId,
            Flags = target.AsyncId != 0 ? Smb2HeaderFlags.AsyncCommand : Smb2HeaderFlags.None,
            AsyncId = target.AsyncId,
            TreeId = target.Context.TreeId,
            SessionId = target.Context.SessionId,
        };
        header.WriteTo(message);
        var body = message.Slice(Smb2Header.Size, CancelBodySize);
        body.Clear();
        body[0] = CancelBodySize; // StructureSize (2 bytes, LE) = 4, Reserved = 0
        target.Context.Signer?.Sign(message[..(Smb2Header.Size + CancelBodySize)]);
    }
}
