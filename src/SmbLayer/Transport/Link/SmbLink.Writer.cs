using System.Buffers;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// The one writer: drains the send queue, serialises, signs or encrypts and writes frames in MessageId order.
internal sealed partial class SmbLink
{
    /// <summary>Small frames are coalesced into one socket write up to this size.</summary>
    private const int CoalesceLimit = 256 * 1024;

    private const int CancelBodySize = 4;

    /// <summary>A WRITE's local file failed; the link goes down for it (<see cref="SmbConnectionLossReason.LocalError"/>).</summary>
    private bool _localWriteFailed;

    private async Task WriteLoopAsync()
    {
        var queue = _queue.Reader;
        var cancellationToken = Token;
        var batch = new ArrayBufferWriter<byte>(CoalesceLimit);
        try
        {
            while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (queue.TryRead(out var item))
                {
                    await WriteItemAsync(item, batch, cancellationToken).ConfigureAwait(false);
                }
                await FlushAsync(batch, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closed by the owner or after a failure.
        }
        catch (Exception ex)
        {
            Fail(ex is IOException io ? new SmbConnectionException($"Sending to {Peer} failed: {io.Message}", io) : ex,
                _localWriteFailed ? SmbConnectionLossReason.LocalError : LossReasonOf(ex));
        }
    }

    private async ValueTask WriteItemAsync(OutgoingItem item, ArrayBufferWriter<byte> batch, CancellationToken cancellationToken)
    {
        if (item.Members is not { } members)
        {
            await WriteFrameAsync(item, batch, cancellationToken).ConfigureAwait(false);
            return;
        }
        // From here the writer reads the members' memory; a caller released meanwhile waits until EndWrite.
        if (_failed || !BeginWrite(members))
        {
            return; // withdrawn: the link failed before the writer got to it
        }
        try
        {
            await WriteFrameAsync(item, batch, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var m in members)
            {
                m.EndWrite();
            }
        }
    }

    private static bool BeginWrite(PendingRequest[] members)
    {
        for (var i = 0; i < members.Length; i++)
        {
            if (!members[i].BeginWrite())
            {
                for (var j = 0; j < i; j++)
                {
                    members[j].EndWrite();
                }
                return false;
            }
        }
        return true;
    }

    /// <summary>Notes where <paramref name="item"/>'s frame ends in the outgoing byte stream (for delivery and the probe).</summary>
    private void Place(OutgoingItem item, int frameLength)
    {
        _streamOffset += frameLength;
        if (item.Members is not { } members)
        {
            return;
        }
        foreach (var m in members)
        {
            m.WireEnd = _streamOffset;
            if (m.Context.IsProbe)
            {
                Interlocked.Exchange(ref _probeWireEnd, _streamOffset);
            }
        }
    }

    private async ValueTask WriteFrameAsync(OutgoingItem item, ArrayBufferWriter<byte> batch, CancellationToken cancellationToken)
    {
        var frameLength = FrameLength(item);
        _metrics.RecordNetworkIo(frameLength, received: false);
        if (_socket is { } socket && IsFromFile(item, out var range) && range.Length >= FileSender.Minimum)
        {
            // Bulk WRITE, unsigned, whose data is in a local file: header from a small buffer, data by sendfile.
            await FlushAsync(batch, cancellationToken).ConfigureAwait(false);
            Place(item, frameLength);
            var request = item.Members![0];
            var headLength = frameLength - range.Length;
            SerializeHead(request, frameLength, batch.GetSpan(headLength)[..headLength]);
            batch.Advance(headLength);
            if (await FileSender.SendAsync(socket, batch.WrittenMemory, range).ConfigureAwait(false) is { } shortFile)
            {
                throw FailWrite(request, shortFile, cutShort: true);
            }
            batch.ResetWrittenCount();
            Wrote(frameLength);
            _metrics.AddBytesFromFiles(range.Length);
            return;
        }
        if (frameLength > CoalesceLimit && IsGatherable(item, out var payload))
        {
            // Bulk WRITE, unsigned: header and fixed part from a small buffer, then the data from the caller's memory.
            await FlushAsync(batch, cancellationToken).ConfigureAwait(false);
            Place(item, frameLength);
            var headLength = frameLength - payload.Length;
            SerializeHead(item.Members![0], frameLength, batch.GetSpan(headLength)[..headLength]);
            batch.Advance(headLength);
            await FlushAsync(batch, cancellationToken).ConfigureAwait(false);
            await _stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            Wrote(payload.Length);
            return;
        }
        if (frameLength > CoalesceLimit)
        {
            // Large frames (signed or encrypted bulk writes) go straight from a pooled buffer.
            await FlushAsync(batch, cancellationToken).ConfigureAwait(false);
            Place(item, frameLength);
            var rented = ArrayPool<byte>.Shared.Rent(frameLength);
            try
            {
                SerializeOrFail(item, rented.AsSpan(0, frameLength));
                await _stream.WriteAsync(rented.AsMemory(0, frameLength), cancellationToken).ConfigureAwait(false);
                Wrote(frameLength);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
            return;
        }
        if (batch.WrittenCount + frameLength > CoalesceLimit)
        {
            await FlushAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        Place(item, frameLength);
        SerializeOrFail(item, batch.GetSpan(frameLength)[..frameLength]);
        batch.Advance(frameLength);
    }

    /// <summary>Counts bytes the kernel took from us (what the send buffer holds of them is subtracted when sampling).</summary>
    private void Wrote(int count) => Interlocked.Add(ref _bytesWritten, count);

    private async ValueTask FlushAsync(ArrayBufferWriter<byte> batch, CancellationToken cancellationToken)
    {
        if (batch.WrittenCount == 0)
        {
            return;
        }
        await _stream.WriteAsync(batch.WrittenMemory, cancellationToken).ConfigureAwait(false);
        Wrote(batch.WrittenCount);
        batch.ResetWrittenCount();
    }

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

    /// <summary>The transform a frame goes out under, or null for plaintext.</summary>
    private static IMessageTransform? TransformOf(OutgoingItem item) =>
        item.Members is { } members ? members[0].Context.Transform : item.CancelTarget!.Context.Transform;

    /// <summary>A lone request with a bulk payload and nothing that needs the whole message in one buffer (signing, encryption, pre-auth hash).</summary>
    private static bool IsGatherable(OutgoingItem item, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        if (item.Members is not [var m] || m.Context.Signer is not null || m.Context.Transform is not null || m.Context.OnSent is not null
            || m.Body is not ISmb2PayloadRequest p || p.Payload.IsEmpty || p.FixedPartSize + p.Payload.Length != m.Body.BodySize)
        {
            return false;
        }
        payload = m.OwnedPayload ?? p.Payload;
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

    /// <summary>Serialises <paramref name="item"/>; when its payload cannot be read from its local file, fails that request alone and then the link (its MessageId is spent).</summary>
    private void SerializeOrFail(OutgoingItem item, Span<byte> frame)
    {
        try
        {
            Serialize(item, frame);
        }
        catch (IOException ex) when (item.Members is [var m] && m.Body is ISmb2PayloadRequest { PayloadSource: not null })
        {
            throw FailWrite(m, ex, cutShort: false);
        }
    }

    /// <summary>
    /// Fails <paramref name="request"/> alone with <paramref name="cause"/> (a WRITE whose data could not be read from its
    /// local file; repeating it could not help) and returns the error that then drops the link: its MessageId is spent,
    /// and when <paramref name="cutShort"/> part of its frame may be on the wire.
    /// </summary>
    private SmbConnectionException FailWrite(PendingRequest request, IOException cause, bool cutShort)
    {
        FailOne(request, cause);
        _localWriteFailed = true;
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
        Status = _owner.WritesChannelSequence ? m.Context.ChannelSequence : 0u,
        Command = m.Body.Command,
        Credits = m.CreditRequest,
        Flags = m.Context.Flags | m.ExtraFlags | m.Body.HeaderFlags,
        NextCommand = nextCommand,
        MessageId = m.MessageId,
        TreeId = m.Context.TreeId,
        SessionId = m.Context.SessionId,
    };

    /// <summary>Writes one frame: the Direct TCP header then the messages, encrypted as one unit when the frame has a transform.</summary>
    private void Serialize(OutgoingItem item, Span<byte> frame)
    {
        DirectTcp.WriteFrameHeader(frame, frame.Length - DirectTcp.FrameHeaderSize);
        var messages = frame[DirectTcp.FrameHeaderSize..];
        if (TransformOf(item) is not { } transform)
        {
            SerializeMessages(item, messages);
            return;
        }
        var plainLength = messages.Length - transform.Overhead;
        var plain = ArrayPool<byte>.Shared.Rent(plainLength);
        try
        {
            SerializeMessages(item, plain.AsSpan(0, plainLength));
            transform.Encrypt(plain.AsSpan(0, plainLength), messages);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plain, clearArray: true);
        }
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
            WriteBody(m, span.Slice(Smb2Header.Size, m.Body.BodySize));
            m.Context.Signer?.Sign(span);
            m.Context.OnSent?.Invoke(span);
            offset += span.Length;
        }
    }

    /// <summary>The body as the request has it, or with the copy of its payload the link took when the caller was released early.</summary>
    private static void WriteBody(PendingRequest m, Span<byte> body)
    {
        if (m.OwnedPayload is { } owned && m.Body is ISmb2PayloadRequest p)
        {
            p.WriteFixedPart(body[..p.FixedPartSize]);
            owned.CopyTo(body[p.FixedPartSize..]);
            return;
        }
        m.Body.WriteBody(body);
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
