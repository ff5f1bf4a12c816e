using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.Transport;

// The one reader: reads frames, decrypts, checks signatures and completes waiters by MessageId.
// Every pooled buffer here has one owner at a time: the frame reader rents it, the dispatch takes it, and the
// response handed to a caller (or the abandoned-answer callback) returns it.
internal sealed partial class SmbLink
{
    /// <summary>MS-SMB2 §2.2.41: an SMB 3 TRANSFORM header starts with 0xFD 'S' 'M' 'B'.</summary>
    private const uint TransformProtocolId = 0x424D53FD;

    /// <summary>MS-SMB2 §2.2.42: a compression transform header starts with 0xFC 'S' 'M' 'B'.</summary>
    private const uint CompressionProtocolId = 0x424D53FC;

    /// <summary>Largest server-initiated message taken: a lease break is 108 bytes (MS-SMB2 §2.2.23.2), with room for padding.</summary>
    internal const int MaxServerMessageSize = 1024;

    private SpliceReceiver? _splice;
    private bool _spliceTried;

    private async Task ReadLoopAsync()
    {
        var cancellationToken = Token;
        var frames = new FrameReader(_stream, Clock, Peer);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var stageLimit = SinkRequests > 0 ? DirectTcp.FrameHeaderSize + _family.BulkPrefixSize : FrameReader.StagingSize;
                await frames.StageAsync(DirectTcp.FrameHeaderSize, stageLimit, midFrame: false, cancellationToken).ConfigureAwait(false);
                var length = DirectTcp.ReadFrameLength(frames.Staged.Span, _settings.MaxFrameLength);
                frames.Consume(DirectTcp.FrameHeaderSize);
                _metrics.RecordNetworkIo(DirectTcp.FrameHeaderSize + length, received: true);

                if (length > FrameReader.StagingSize && SinkRequests > 0 && Splicer() is { } receiver)
                {
                    // A large frame while downloads into files run: stage enough of it to tell whether its data can go
                    // straight from the socket into a file.
                    await frames.StageAsync(_family.BulkPrefixSize, _family.BulkPrefixSize, midFrame: true, cancellationToken).ConfigureAwait(false);
                    if (SinkFor(frames.Staged.Span, length, out var dataOffset, out var dataLength) is { } sink)
                    {
                        var head = await receiver.ReceiveAsync(frames, Clock, sink, dataOffset, dataLength, cancellationToken).ConfigureAwait(false);
                        _metrics.AddBytesIntoFiles(dataLength);
                        if (Failed)
                        {
                            ArrayPool<byte>.Shared.Return(head);
                            return;
                        }
                        DispatchMessage(head, dataOffset, decryptedFor: null);
                        continue;
                    }
                }

                var frame = await frames.ReadFrameAsync(length, cancellationToken).ConfigureAwait(false);
                if (Failed)
                {
                    ArrayPool<byte>.Shared.Return(frame);
                    return;
                }
                ProcessFrame(frame, length);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closed by the owner or after a failure.
        }
        catch (Exception ex)
        {
            Fail(ex is IOException io ? new SmbConnectionException($"Connection to {Peer} failed: {io.Message}", io) : ex,
                frames.EndOfStreamSeen ? SmbConnectionLossReason.ServerClosed : LossReasonOf(ex));
        }
        finally
        {
            _splice?.Dispose();
        }
    }

    /// <summary>The link's splice receiver, made on first use; null where splicing is not possible.</summary>
    private SpliceReceiver? Splicer()
    {
        if (!_spliceTried)
        {
            _spliceTried = true;
            _splice = SpliceReceiver.TryCreate(_stream);
        }
        return _splice;
    }

    /// <summary>
    /// The sink a frame's data may go into: the frame (its first bytes in <paramref name="prefix"/>) answers a READ that
    /// asked for one, plainly (signed answers need their data to verify, encrypted ones to decrypt: those come whole),
    /// its caller still waits, and the data fits. Null otherwise: the frame is then read whole as usual.
    /// </summary>
    private FileSink? SinkFor(ReadOnlySpan<byte> prefix, int length, out int dataOffset, out int dataLength)
    {
        if (!_family.TryGetBulkData(prefix, length, out var messageId, out dataOffset, out dataLength)
            || !_pending.TryGetValue(messageId, out var pending)
            || pending.Context is not { Sink: { } sink, Signer: null, Transform: null }
            || pending.Abandoned
            || dataLength > sink.Capacity
            || sink.IsDetached)
        {
            return null;
        }
        return sink;
    }

    /// <summary>Dispatches every message of a frame; takes ownership of <paramref name="frame"/>.</summary>
    private void ProcessFrame(byte[] frame, int length)
    {
        ulong? decryptedFor = null;
        if (length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(frame) == TransformProtocolId)
        {
            // Encrypted: decrypt, then handle the plaintext like any other frame (a nested TRANSFORM is refused below).
            (frame, length, var sessionId) = DecryptFrame(frame, length);
            decryptedFor = sessionId;
        }
        var span = frame.AsSpan(0, length);
        var error = span.Length < 4 ? null : BinaryPrimitives.ReadUInt32LittleEndian(span) switch
        {
            TransformProtocolId => "Received a TRANSFORM header inside an encrypted message.",
            CompressionProtocolId => "Received a compressed message, but compression was not negotiated.",
            _ => null,
        };
        error ??= span.Length < _family.MinimumMessageSize
            ? $"Message of {span.Length} bytes is shorter than the minimum of {_family.MinimumMessageSize}."
            : null;
        if (error is not null)
        {
            ArrayPool<byte>.Shared.Return(frame);
            throw new SmbProtocolException(error);
        }
        if (_family.FirstMessageLength(span) == length)
        {
            DispatchMessage(frame, length, decryptedFor);
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
                DispatchMessage(copy, messageLength, decryptedFor);
                offset += messageLength;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>
    /// Decrypts a TRANSFORM frame (MS-SMB2 §3.2.5.1.1.1): the SessionId picks the session's keys, the tag is checked,
    /// and the plaintext comes back in a new pooled buffer. Takes ownership of <paramref name="frame"/>.
    /// </summary>
    private (byte[] Plain, int Length, ulong SessionId) DecryptFrame(byte[] frame, int length)
    {
        try
        {
            var span = frame.AsSpan(0, length);
            var header = Smb2TransformHeader.ReadFrom(span);
            var transform = _owner.TransformFor(header.SessionId) ?? throw new SmbProtocolException(
                $"Received an encrypted (TRANSFORM) message for session 0x{header.SessionId:X}, which has no encryption keys on this connection.");
            var plainLength = length - Smb2TransformHeader.Size;
            if (header.OriginalMessageSize != (uint)plainLength)
            {
                throw new SmbProtocolException(
                    $"TRANSFORM OriginalMessageSize {header.OriginalMessageSize} does not match the {plainLength} encrypted bytes in the frame.");
            }
            if (plainLength < _family.MinimumMessageSize)
            {
                throw new SmbProtocolException($"Encrypted message of {plainLength} bytes is shorter than the minimum of {_family.MinimumMessageSize}.");
            }
            var plain = ArrayPool<byte>.Shared.Rent(plainLength);
            try
            {
                transform.Decrypt(span, plain.AsSpan(0, plainLength));
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(plain);
                throw;
            }
            return (plain, plainLength, header.SessionId);
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
    private void DispatchMessage(byte[] buffer, int length, ulong? decryptedFor)
    {
        var owned = buffer;
        try
        {
            if (Dispatch(buffer, length, decryptedFor))
            {
                owned = null;
            }
        }
        finally
        {
            if (owned is not null)
            {
                ArrayPool<byte>.Shared.Return(owned);
            }
        }
    }

    /// <summary>Handles one message; true when its buffer went on to a response (whose owner returns it), false when the caller returns it.</summary>
    private bool Dispatch(byte[] buffer, int length, ulong? decryptedFor)
    {
        var message = buffer.AsSpan(0, length);
        var info = _family.Classify(message);
        // Interim replies and notifications grant credits but end no request; a final reply ends one.
        _credits.OnReceived(info.CreditsGranted, requestFinished: !info.IsInterim && !info.IsServerInitiated);
        if (!info.IsInterim && !info.IsServerInitiated && _credits.IsStarved)
        {
            // Otherwise every later request would wait for credits forever.
            throw new SmbProtocolException($"Server granted no credits with the response to MessageId {info.MessageId} and none are left; the connection cannot send again.");
        }
        if (info.IsServerInitiated)
        {
            // The only unsolicited messages taken are break notifications (MS-SMB2 §2.2.23: 24- and 44-byte bodies); the
            // handlers get a copy of each, so a larger one is refused before anything is copied or queued.
            if (length > MaxServerMessageSize)
            {
                throw new SmbProtocolException(
                    $"Unsolicited {(Smb2Command)info.Command} message of {length} bytes; a break notification is at most {MaxServerMessageSize}.");
            }
            _owner.OnServerMessage(message, decryptedFor);
            return false;
        }
        if (!_pending.TryGetValue(info.MessageId, out var pending))
        {
            throw new SmbProtocolException($"Response for MessageId {info.MessageId}, which has no request outstanding.");
        }
        if (pending.Wire is WireState.Queued or WireState.Withdrawn)
        {
            // The writer has not begun to send it: no server can be answering it (a broken or hostile one).
            var early = new SmbProtocolException(
                $"Response for {pending.Body.Command} (MessageId {info.MessageId}) arrived before the request was sent.");
            FailOne(pending, early);
            throw early;
        }
        // MS-SMB2 §3.2.5.1: the answer carries its request's command. One that names another is not this request's
        // answer (a broken or hostile server): nothing in it may be read as this request's outcome.
        if (info.Command != (ushort)pending.Body.Command)
        {
            var error = new SmbProtocolException(
                $"The response to {pending.Body.Command} (MessageId {info.MessageId}) says it answers {(Smb2Command)info.Command}.");
            FailOne(pending, error);
            throw error;
        }
        if (info.IsInterim)
        {
            OnInterim(pending, info, message, decryptedFor);
            return false;
        }
        if (EncryptionViolation(info, message, pending, decryptedFor) is { } violation)
        {
            throw new SmbProtocolException(violation);
        }
        // MS-SMB2 §3.2.5.1.3: an encrypted message carries no signature; decryption authenticated it.
        if (decryptedFor is null && pending.Context.Signer is { } signer)
        {
            var bad = !info.IsSigned && !MayBeUnsigned((NtStatus)info.Status)
                ? $"Unsigned response to {pending.Body.Command} (MessageId {info.MessageId}) while signing is active."
                : info.IsSigned && !signer.Verify(message)
                    ? $"Bad signature on the response to {pending.Body.Command} (MessageId {info.MessageId})."
                    : null;
            if (bad is not null)
            {
                // The request this answer belongs to fails with the protocol error itself (its outcome is unknown and
                // the answer untrustworthy); the link then goes down for the others.
                var error = new SmbProtocolException(bad);
                FailOne(pending, error);
                throw error;
            }
        }
        if (info.Command == (ushort)Smb2Command.Create && (NtStatus)info.Status == NtStatus.Success && UnreadableCreate(message) is { } unreadable)
        {
            OnUnreadableCreate(pending, message, unreadable);
            return false;
        }
        _pending.TryRemove(info.MessageId, out _);
        var header = Smb2Header.ReadFrom(message);
        if (!pending.Abandoned)
        {
            // An abandoned request (timed out, or cancelled past the grace) was counted as unanswered already.
            _metrics.RecordAnswered(pending, header.NtStatus);
        }
        var response = new SmbResponse(buffer, 0, length, header) { From = this };
        pending.CancellationRegistration.Dispose();
        if (pending.Abandoned)
        {
            pending.SetState(RequestState.Completed);
            HandleAbandonedResponse(pending, response);
        }
        else if (pending.CancelSent && header.NtStatus == NtStatus.Cancelled)
        {
            pending.SetState(RequestState.Cancelled);
            response.Dispose();
            pending.Release(static r => r.Completion.TrySetCanceled(), withdraw: false);
        }
        else
        {
            pending.SetState(RequestState.Completed);
            // A response can overtake the writer's own bookkeeping (the kernel took the last bytes, the server answered,
            // and the writer's continuation has not run yet): the caller gets it once the writer let go of its memory.
            pending.Release(r =>
            {
                if (!r.Completion.TrySetResult(response))
                {
                    response.Dispose();
                }
            }, withdraw: false);
        }
        return true;
    }

    /// <summary>
    /// STATUS_PENDING: the final answer comes later under the same MessageId. The interim reply proves the request
    /// delivered, gives the AsyncId a CANCEL targets and extends the request's expiry, never without bound. What it may
    /// do depends on what authenticates it (docs/SECURITY.md, "Interim responses"):
    /// <list type="bullet">
    /// <item>to an encrypted request it must itself be encrypted under the request's session: MS-SMB2 §3.3.4.1.4 makes the
    /// server encrypt every response to an encrypted request, interim ones included; anything else is a protocol
    /// violation (a plaintext one could come from anyone on the path);</item>
    /// <item>on a signing session, one that says it is signed must verify. Servers need not sign them (§3.3.4.1.1: they
    /// SHOULD NOT; §3.2.5.1.3: the client skips verifying STATUS_PENDING), so an unsigned one is taken, with less effect:
    /// it may set the AsyncId only if none is known and extends the expiry only if it is the first interim reply;</item>
    /// <item>the AsyncId is nonzero and stays the same until the final answer (§3.3.4.2); a later interim reply naming
    /// another one is a protocol violation, unless it is authenticated and the one known was not.</item>
    /// </list>
    /// </summary>
    private void OnInterim(PendingRequest pending, in IncomingMessageInfo info, Span<byte> message, ulong? decryptedFor)
    {
        var violation = EncryptionViolation(info, message, pending, decryptedFor, interim: true);
        var authenticated = decryptedFor is not null;
        if (violation is null && !authenticated && pending.Context.Signer is { } signer && info.IsSigned)
        {
            authenticated = signer.Verify(message);
            violation = authenticated ? null : $"Bad signature on the interim response to {pending.Body.Command} (MessageId {info.MessageId}).";
        }
        // Nothing on this session can be authenticated (it neither signs nor encrypts): every interim reply counts, as a
        // forged final answer would be taken too.
        var unprotected = pending.Context.Signer is null && pending.Context.Transform is null;
        var trusted = authenticated || unprotected;
        var first = pending.State == RequestState.Sent;
        if (violation is null && info.AsyncId == 0)
        {
            violation = $"Interim response to {pending.Body.Command} (MessageId {info.MessageId}) has AsyncId 0; MS-SMB2 §3.3.4.2 requires a nonzero one.";
        }
        if (violation is null && pending.AsyncId != 0 && pending.AsyncId != info.AsyncId && !(trusted && !pending.AsyncIdTrusted))
        {
            violation = $"Interim response to {pending.Body.Command} (MessageId {info.MessageId}) names AsyncId 0x{info.AsyncId:X}; an earlier one named 0x{pending.AsyncId:X}.";
        }
        if (violation is not null)
        {
            var error = new SmbProtocolException(violation);
            FailOne(pending, error);
            throw error;
        }
        if (pending.AsyncId == 0 || trusted)
        {
            pending.AsyncId = info.AsyncId;
            pending.AsyncIdTrusted |= trusted;
        }
        pending.TryTransition(RequestState.Sent, RequestState.Interim);
        var now = Environment.TickCount64;
        MarkDelivered(pending, now);
        var timeout = pending.Context.Timeout ?? _settings.RequestTimeout;
        if (timeout != Timeout.InfiniteTimeSpan && (trusted || first))
        {
            var limit = pending.SentTicks + ((long)timeout.TotalMilliseconds * _settings.MaxPendingExtensions);
            pending.DeadlineTicks = Math.Min(Math.Max(pending.DeadlineTicks, Math.Min(now + (long)timeout.TotalMilliseconds, limit)), pending.Context.CallDeadline);
        }
        // A CANCEL already sent by MessageId is not repeated by AsyncId: the server finds the request by MessageId after
        // it went async too (MS-SMB2 §3.3.5.16), and a second signed CANCEL would reuse the AES-GMAC nonce (QueueCancel).
    }

    /// <summary>
    /// Statuses a server may send unsigned inside a signed session because the session's key
    /// is no longer usable (MS-SMB2 §3.3.4.1.1 allows unsigned replies in these cases).
    /// </summary>
    private static bool MayBeUnsigned(NtStatus status) =>
        status is NtStatus.UserSessionDeleted or NtStatus.NetworkSessionExpired or NtStatus.InvalidParameter;

    /// <summary>
    /// Checks one message against how its frame arrived: a decrypted message must belong to the session whose key
    /// decrypted it; a final response to an encrypted request must itself have been encrypted (a plaintext answer could
    /// have been forged or replayed by anyone on the path).
    /// </summary>
    private static string? EncryptionViolation(in IncomingMessageInfo info, ReadOnlySpan<byte> message, PendingRequest pending, ulong? decryptedFor,
        bool interim = false)
    {
        var what = interim ? "interim response" : "response";
        if (decryptedFor is { } sessionId)
        {
            var messageSession = Smb2Header.ReadFrom(message).SessionId;
            if (messageSession != sessionId)
            {
                return $"Encrypted {what} to {pending.Body.Command} (MessageId {info.MessageId}) names session 0x{messageSession:X}, but was encrypted for 0x{sessionId:X}.";
            }
            // An interim reply has nothing else to check it against: it must come under the keys the request went with.
            return interim && pending.Context.Transform is not null && sessionId != pending.Context.SessionId
                ? $"Encrypted interim response to {pending.Body.Command} (MessageId {info.MessageId}) was encrypted for session 0x{sessionId:X}, the request for 0x{pending.Context.SessionId:X}."
                : null;
        }
        return pending.Context.Transform is not null
            ? $"Unencrypted {what} to the encrypted {pending.Body.Command} request (MessageId {info.MessageId})."
            : null;
    }

    /// <summary>The parser's error for a successful CREATE response that does not read, or null when it reads.</summary>
    private static SmbProtocolException? UnreadableCreate(ReadOnlySpan<byte> message)
    {
        try
        {
            CreateResponse.Parse(message);
            return null;
        }
        catch (SmbProtocolException ex)
        {
            return ex;
        }
    }

    /// <summary>
    /// A CREATE the server says succeeded, in an answer the client cannot read (MS-SMB2 §2.2.14): the server is broken or
    /// hostile, so the link goes (as for any malformed input), and the request fails with <see cref="SmbProtocolException"/>.
    /// But the server may hold a handle for it, which nobody would ever close: a durable one outlives the connection. The
    /// CREATE is checked here, before the session layer, so that when the FileId can be read a CLOSE for it goes out on
    /// this link first; the link fails once the CLOSE is answered or after <see cref="UnreadableCreateCloseBound"/>.
    /// When even the FileId is missing the handle cannot be known, and the link fails at once (a handle that is not
    /// durable dies with it, MS-SMB2 §3.3.7.1).
    /// </summary>
    private void OnUnreadableCreate(PendingRequest pending, ReadOnlySpan<byte> message, SmbProtocolException unreadable)
    {
        var fileId = CreateResponse.TryReadFileId(message);
        var error = new SmbProtocolException(
            $"The successful CREATE response (MessageId {pending.MessageId}) does not read: {unreadable.Message} " +
            (fileId is { } id ? $"Its handle {id} is closed and the connection dropped." : "It is too short to name its handle; the connection is dropped."),
            unreadable);
        if (!pending.Abandoned)
        {
            _metrics.RecordAnswered(pending, NtStatus.Success);
        }
        FailOne(pending, error);
        if (fileId is null)
        {
            throw error;
        }
        _ = CloseThenFailAsync(fileId.Value, pending, error);
    }

    /// <summary>How long the link waits for the CLOSE of an unreadable CREATE's handle before it fails.</summary>
    private static readonly TimeSpan UnreadableCreateCloseBound = TimeSpan.FromSeconds(5);

    private async Task CloseThenFailAsync(Smb2FileId fileId, PendingRequest create, SmbProtocolException error)
    {
        try
        {
            var context = create.Context;
            var close = new PendingRequest(new CloseRequest(fileId), new RequestContext
            {
                SessionId = context.SessionId,
                TreeId = context.TreeId,
                Signer = context.Signer,
                Transform = context.Transform,
                ChannelSequence = context.ChannelSequence,
                DuringSetup = context.DuringSetup,
                Timeout = UnreadableCreateCloseBound,
            }, create.CreditCharge);
            using var bound = new CancellationTokenSource(UnreadableCreateCloseBound);
            await SendAsync([close], priority: true, bound.Token).ConfigureAwait(false);
            using var response = await close.Completion.Task.WaitAsync(bound.Token).ConfigureAwait(false);
            _logger.UnreadableCreateClosed(fileId, response.Status);
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException or TimeoutException)
        {
            _logger.UnreadableCreateCloseFailed(fileId, ex.Message);
        }
        finally
        {
            Fail(error, SmbConnectionLossReason.ProtocolViolation);
        }
    }

    /// <summary>A successful answer after the caller stopped waiting goes to the request's compensation (e.g. CLOSE a late CREATE's handle).</summary>
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
}
