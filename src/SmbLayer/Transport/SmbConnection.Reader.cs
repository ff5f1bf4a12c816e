using System.Buffers;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// The one reader: parses frames and completes waiters by MessageId.
internal sealed partial class SmbConnection
{
    /// <summary>Bytes read from the socket in one call for small frames; large frames are read straight into their own buffer.</summary>
    private const int StagingSize = 64 * 1024;

    /// <summary>MS-SMB2 §2.2.41: an SMB 3 TRANSFORM header starts with 0xFD 'S' 'M' 'B'.</summary>
    private const uint TransformProtocolId = 0x424D53FD;

    /// <summary>MS-SMB2 §2.2.42: a compression transform header starts with 0xFC 'S' 'M' 'B'.</summary>
    private const uint CompressionProtocolId = 0x424D53FC;

    private async Task ReadLoopAsync(Link link)
    {
        var stream = link.Stream;
        var cancellationToken = link.Cancellation.Token;
        var staging = new byte[StagingSize];
        int start = 0, end = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // Frame header.
                while (end - start < DirectTcp.FrameHeaderSize)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(staging, start, staging, 0, end - start);
                        end -= start;
                        start = 0;
                    }
                    // While downloads into files run, take no more than a frame header and what shows whether the
                    // frame's data can be spliced: bytes staged here reach a file by a copy out and a copy back in.
                    var room = Volatile.Read(ref _sinkRequests) > 0 ? DirectTcp.FrameHeaderSize + _family.BulkPrefixSize : staging.Length;
                    var n = await stream.ReadAsync(staging.AsMemory(end, Math.Min(room, staging.Length - end)), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        throw new SmbConnectionException($"Server {Host}:{Port} closed the connection.");
                    }
                    Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
                    end += n;
                }
                var length = DirectTcp.ReadFrameLength(staging.AsSpan(start, DirectTcp.FrameHeaderSize), Settings.MaxFrameLength);
                start += DirectTcp.FrameHeaderSize;
                RecordNetworkIo(DirectTcp.FrameHeaderSize + length, received: true);

                if (length > StagingSize && Volatile.Read(ref _sinkRequests) > 0 && SpliceFor(link) is { } pipe)
                {
                    // A large frame while downloads into files are running: stage enough of it to tell
                    // whether its data can go straight from the socket into a file.
                    while (end - start < _family.BulkPrefixSize)
                    {
                        if (start > 0)
                        {
                            Buffer.BlockCopy(staging, start, staging, 0, end - start);
                            end -= start;
                            start = 0;
                        }
                        var n = await stream.ReadAsync(staging.AsMemory(end, _family.BulkPrefixSize - (end - start)), cancellationToken).ConfigureAwait(false);
                        if (n == 0)
                        {
                            throw new SmbConnectionException($"Server {Host}:{Port} closed the connection in the middle of a frame.");
                        }
                        Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
                        end += n;
                    }
                    if (await TryReceiveIntoSinkAsync(link, pipe, staging, start, end, length, cancellationToken).ConfigureAwait(false) is { } after)
                    {
                        if (link.Failed)
                        {
                            return;
                        }
                        (start, end) = after;
                        continue;
                    }
                }

                // Frame body into its own pooled buffer: what is staged first, then straight from the socket.
                var frame = ArrayPool<byte>.Shared.Rent(length);
                var have = Math.Min(length, end - start);
                Buffer.BlockCopy(staging, start, frame, 0, have);
                start += have;
                if (start == end)
                {
                    start = end = 0;
                }
                try
                {
                    while (have < length)
                    {
                        var want = length - have;
                        if (want < StagingSize / 2)
                        {
                            // Small remainder: read into staging so the next frame's bytes come along in the same call.
                            var n = await stream.ReadAsync(staging.AsMemory(end), cancellationToken).ConfigureAwait(false);
                            if (n == 0)
                            {
                                throw new SmbConnectionException($"Server {Host}:{Port} closed the connection in the middle of a frame.");
                            }
                            Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
                            end += n;
                            var take = Math.Min(want, end - start);
                            Buffer.BlockCopy(staging, start, frame, have, take);
                            have += take;
                            start += take;
                            if (start == end)
                            {
                                start = end = 0;
                            }
                        }
                        else
                        {
                            var n = await stream.ReadAsync(frame.AsMemory(have, want), cancellationToken).ConfigureAwait(false);
                            if (n == 0)
                            {
                                throw new SmbConnectionException($"Server {Host}:{Port} closed the connection in the middle of a frame.");
                            }
                            Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
                            have += n;
                        }
                    }
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(frame);
                    throw;
                }
                if (link.Failed)
                {
                    ArrayPool<byte>.Shared.Return(frame);
                    return;
                }
                ProcessFrame(link, frame, length);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closed by the owner or after a failure.
        }
        catch (Exception ex)
        {
            LinkFailed(link, ex is IOException io ? new SmbConnectionException($"Connection to {Host}:{Port} failed: {io.Message}", io) : ex);
        }
        finally
        {
            link.Splice?.Dispose();
        }
    }

    /// <summary>The link's splice pipe, made on first use; null where splicing is not possible (not Linux, not a socket, no pipe).</summary>
    private static SplicePipe? SpliceFor(Link link)
    {
        if (!link.SpliceTried)
        {
            link.SpliceTried = true;
            if (SplicePipe.IsSupported && link.Stream is System.Net.Sockets.NetworkStream network)
            {
                link.Splice = SplicePipe.TryCreate(network.Socket);
            }
        }
        return link.Splice;
    }

    /// <summary>
    /// If the frame whose first bytes are staged (<paramref name="start"/>..<paramref name="end"/>, the
    /// header already consumed) answers a READ that asked for a <see cref="FileSink"/> and may use it,
    /// moves its data into the sink's file (staged bytes with pwrite, the rest socket → pipe → file
    /// with splice) and dispatches the header alone. Returns the staging window afterwards, or null when
    /// the frame is not such an answer (nothing consumed; it is then read whole as usual).
    /// </summary>
    private async ValueTask<(int Start, int End)?> TryReceiveIntoSinkAsync(Link link, SplicePipe pipe, byte[] staging, int start, int end, int length,
        CancellationToken cancellationToken)
    {
        if (!_family.TryGetBulkData(staging.AsSpan(start, end - start), length, out var messageId, out var dataOffset, out var dataLength)
            || !link.Pending.TryGetValue(messageId, out var pending)
            || pending.Context is not { Sink: { } sink, Signer: null, Transform: null }
            || pending.Abandoned
            || dataLength > sink.Capacity
            || sink.IsDetached)
        {
            // Signed answers need their data to verify, encrypted ones to decrypt: those always come whole.
            return null;
        }
        var head = ArrayPool<byte>.Shared.Rent(dataOffset);
        try
        {
            staging.AsSpan(start, dataOffset).CopyTo(head);
            start += dataOffset;
            var done = Math.Min(dataLength, end - start);
            if (done > 0)
            {
                WriteLocally(static s => s.Sink.WriteStaged(s.Staging.AsSpan(s.Start, s.Count), 0), (Sink: sink, Staging: staging, Start: start, Count: done));
            }
            start += done;
            if (start == end)
            {
                start = end = 0;
            }
            while (done < dataLength)
            {
                var n = pipe.SpliceFromSocket(dataLength - done);
                if (n < 0)
                {
                    await pipe.WaitForDataAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }
                if (n == 0)
                {
                    throw new SmbConnectionException($"Server {Host}:{Port} closed the connection in the middle of a frame.");
                }
                Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
                WriteLocally(static s => s.Sink.WriteFromPipe(s.Pipe, s.Count, s.At), (Sink: sink, Pipe: pipe, Count: n, At: done));
                done += n;
            }
            sink.MarkDelivered(dataLength);
            Interlocked.Add(ref _bytesIntoFiles, dataLength);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(head);
            throw;
        }
        if (link.Failed)
        {
            ArrayPool<byte>.Shared.Return(head);
            return (start, end);
        }
        DispatchMessage(link, head, 0, dataOffset, decryptedFor: null);
        return (start, end);
    }

    /// <summary>Dispatches every message of a frame; takes ownership of <paramref name="frame"/>.</summary>
    private void ProcessFrame(Link link, byte[] frame, int length)
    {
        ulong? decryptedFor = null;
        if (length >= 4 && System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(frame) == TransformProtocolId)
        {
            // Encrypted: decrypt, then handle the plaintext like any other frame (a nested TRANSFORM is refused below).
            (frame, length, var sessionId) = DecryptFrame(frame, length);
            decryptedFor = sessionId;
        }
        var span = frame.AsSpan(0, length);
        if (span.Length >= 4)
        {
            var protocolId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(span);
            if (protocolId is TransformProtocolId or CompressionProtocolId)
            {
                ArrayPool<byte>.Shared.Return(frame);
                throw new SmbProtocolException(protocolId == TransformProtocolId
                    ? "Received a TRANSFORM header inside an encrypted message."
                    : "Received a compressed message, but compression was not negotiated.");
            }
        }
        if (span.Length < _family.MinimumMessageSize)
        {
            ArrayPool<byte>.Shared.Return(frame);
            throw new SmbProtocolException($"Message of {span.Length} bytes is shorter than the minimum of {_family.MinimumMessageSize}.");
        }
        var first = _family.FirstMessageLength(span);
        if (first == length)
        {
            DispatchMessage(link, frame, 0, length, decryptedFor);
            return;
        }
        // A compound response: give each member its own buffer so each can be released on its own.
        try
        {
            var offset = 0;
            while (offset < length)
            {
                var messageLength = _family.FirstMessageLength(span[offset..]);
                if (messageLength < _family.MinimumMessageSize)
                {
                    throw new SmbProtocolException($"Compound member of {messageLength} bytes is shorter than the minimum of {_family.MinimumMessageSize}.");
                }
                var copy = ArrayPool<byte>.Shared.Rent(messageLength);
                span.Slice(offset, messageLength).CopyTo(copy);
                DispatchMessage(link, copy, 0, messageLength, decryptedFor);
                offset += messageLength;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>
    /// Handles one message; takes ownership of <paramref name="buffer"/>. <paramref name="decryptedFor"/> is the
    /// session whose key decrypted it, or null for a plaintext message.
    /// </summary>
    private void DispatchMessage(Link link, byte[] buffer, int offset, int length, ulong? decryptedFor)
    {
        var message = buffer.AsSpan(offset, length);
        IncomingMessageInfo info;
        try
        {
            info = _family.Classify(message);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        // Interim replies and notifications grant credits but end no request; a final reply ends one.
        link.Credits.OnReceived(info.CreditsGranted, requestFinished: !info.IsInterim && !info.IsServerInitiated);
        if (!info.IsInterim && !info.IsServerInitiated && link.Credits.IsStarved)
        {
            // Otherwise every later request would wait for credits forever.
            ArrayPool<byte>.Shared.Return(buffer);
            throw new SmbProtocolException($"Server granted no credits with the response to MessageId {info.MessageId} and none are left; the connection cannot send again.");
        }

        if (info.IsServerInitiated)
        {
            DeliverServerMessage(message);
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        if (!link.Pending.TryGetValue(info.MessageId, out var pending))
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw new SmbProtocolException($"Response for MessageId {info.MessageId}, which has no request outstanding.");
        }
        if (info.IsInterim)
        {
            // STATUS_PENDING: the final answer comes later under the same MessageId. The interim reply
            // proves the server alive and extends the request's expiry, but never makes it unbounded.
            pending.AsyncId = info.AsyncId;
            pending.TryTransition(RequestState.Sent, RequestState.Interim);
            var timeout = pending.Context.Timeout ?? Settings.RequestTimeout;
            if (timeout != Timeout.InfiniteTimeSpan)
            {
                var limit = pending.SentTicks + ((long)timeout.TotalMilliseconds * Settings.MaxPendingExtensions);
                pending.DeadlineTicks = Math.Min(Environment.TickCount64 + (long)timeout.TotalMilliseconds, limit);
            }
            ArrayPool<byte>.Shared.Return(buffer);
            if (pending.CancelSent)
            {
                // The CANCEL may have gone out before the AsyncId was known; repeat it by AsyncId.
                QueueCancel(pending);
            }
            return;
        }
        if (EncryptionViolation(info, message, pending, decryptedFor) is { } violation)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw new SmbProtocolException(violation);
        }
        // MS-SMB2 §3.2.5.1.3: an encrypted message carries no signature; decryption authenticated it.
        if (decryptedFor is null && pending.Context.Signer is { } signer)
        {
            SmbProtocolException? bad = null;
            if (!info.IsSigned && !MayBeUnsigned((NtStatus)info.Status))
            {
                bad = new SmbProtocolException($"Unsigned response to {pending.Body.Command} (MessageId {info.MessageId}) while signing is active.");
            }
            else if (info.IsSigned && !signer.Verify(message))
            {
                bad = new SmbProtocolException($"Bad signature on the response to {pending.Body.Command} (MessageId {info.MessageId}).");
            }
            if (bad is not null)
            {
                // The request this answer belongs to fails with the protocol error itself (its outcome is
                // unknown and the answer untrustworthy); the link then goes down for the others.
                ArrayPool<byte>.Shared.Return(buffer);
                if (link.Pending.TryRemove(info.MessageId, out _))
                {
                    pending.SetState(RequestState.Failed);
                    pending.CancellationRegistration.Dispose();
                    pending.Completion.TrySetException(bad);
                }
                throw bad;
            }
        }
        link.Pending.TryRemove(info.MessageId, out _);
        var header = Smb2Header.ReadFrom(message);
        if (!pending.Abandoned)
        {
            // An abandoned request (timed out, or cancelled past the grace) was counted as unanswered already.
            RecordAnswered(pending, header.NtStatus);
        }
        var response = new SmbResponse(buffer, offset, length, header);
        pending.CancellationRegistration.Dispose();
        if (pending.Abandoned)
        {
            pending.SetState(RequestState.Completed);
            HandleAbandonedResponse(pending, response);
            return;
        }
        if (pending.CancelSent && header.NtStatus == NtStatus.Cancelled)
        {
            pending.SetState(RequestState.Cancelled);
            response.Dispose();
            pending.Completion.TrySetCanceled();
            return;
        }
        pending.SetState(RequestState.Completed);
        if (!pending.Completion.TrySetResult(response))
        {
            response.Dispose();
        }
    }

    /// <summary>
    /// Statuses a server may send unsigned inside a signed session because the session's key
    /// is no longer usable (MS-SMB2 §3.3.4.1.1 allows unsigned replies in these cases).
    /// </summary>
    private static bool MayBeUnsigned(NtStatus status) =>
        status is NtStatus.UserSessionDeleted or NtStatus.NetworkSessionExpired or NtStatus.InvalidParameter;

    private void HandleAbandonedResponse(PendingRequest pending, SmbResponse response)
    {
        if (response.Status == NtStatus.Success && pending.Context.OnAbandonedResponse is { } compensate)
        {
            _logger.CompensatingLateSuccess(pending.Body.Command, pending.MessageId);
            ThreadPool.UnsafeQueueUserWorkItem(static state =>
            {
                var (callback, r) = state;
                try
                {
                    callback(r);
                }
                finally
                {
                    r.Dispose();
                }
            }, (compensate, response), preferLocal: false);
            return;
        }
        response.Dispose();
    }

    private void DeliverServerMessage(ReadOnlySpan<byte> message)
    {
        Action<ReadOnlyMemory<byte>>[] handlers;
        lock (_serverMessageHandlers)
        {
            handlers = [.. _serverMessageHandlers];
        }
        if (handlers.Length == 0)
        {
            _logger.ServerMessageDropped();
            return;
        }
        var copy = message.ToArray();
        foreach (var handler in handlers)
        {
            // Off the reader loop: a slow handler must not stall every response behind it.
            ThreadPool.UnsafeQueueUserWorkItem(static state =>
            {
                var (h, m, logger) = state;
                try
                {
                    h(m);
                }
                catch (Exception ex)
                {
                    logger.ServerMessageHandlerFailed(ex);
                }
            }, (handler, (ReadOnlyMemory<byte>)copy, _logger), preferLocal: false);
        }
    }
}
