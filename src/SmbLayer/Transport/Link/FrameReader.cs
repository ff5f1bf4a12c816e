using System.Buffers;

namespace SmbLayer.Transport;

/// <summary>
/// Reads Direct TCP frames (MS-SMB2 §2.1) from a link's stream: a staging buffer takes frame headers and small
/// frames, a large body is read straight into its own pooled buffer. Every socket read goes through
/// <see cref="ReadSomeAsync"/>, so the end of the stream has one path (<see cref="EndOfStream"/>).
/// </summary>
internal sealed class FrameReader(Stream stream, ReceiveClock clock, string peer)
{
    /// <summary>Bytes read from the socket in one call for small frames; large frames are read straight into their own buffer.</summary>
    public const int StagingSize = 64 * 1024;

    private readonly byte[] _staging = new byte[StagingSize];
    private int _start;
    private int _end;

    public int StagedCount => _end - _start;

    /// <summary>True once the stream has ended (the server closed the connection).</summary>
    public bool EndOfStreamSeen { get; private set; }

    /// <summary>Bytes read and not yet consumed.</summary>
    public ReadOnlyMemory<byte> Staged => _staging.AsMemory(_start, _end - _start);

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>
    /// Reads until at least <paramref name="count"/> bytes are staged, never staging more than
    /// <paramref name="stageLimit"/> (while downloads into files run, the reader takes no more than a frame head: bytes
    /// staged here reach a file by a copy out and a copy back in).
    /// </summary>
    public async ValueTask StageAsync(int count, int stageLimit, bool midFrame, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_staging, _start, _staging, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            var room = Math.Min(stageLimit, _staging.Length) - _end;
            _end += await ReadSomeAsync(_staging.AsMemory(_end, room), midFrame, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads a frame body of <paramref name="length"/> bytes into a pooled buffer, which the caller then owns.</summary>
    public async ValueTask<byte[]> ReadFrameAsync(int length, CancellationToken cancellationToken)
    {
        var frame = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var have = Math.Min(length, StagedCount);
            Staged.Span[..have].CopyTo(frame);
            Consume(have);
            while (have < length)
            {
                var want = length - have;
                if (want < StagingSize / 2)
                {
                    // Small remainder: read into staging (empty now) so the next frame's bytes come along in the same call.
                    _end += await ReadSomeAsync(_staging.AsMemory(_end), midFrame: true, cancellationToken).ConfigureAwait(false);
                    var take = Math.Min(want, StagedCount);
                    Staged.Span[..take].CopyTo(frame.AsSpan(have));
                    Consume(take);
                    have += take;
                }
                else
                {
                    have += await ReadSomeAsync(frame.AsMemory(have, want), midFrame: true, cancellationToken).ConfigureAwait(false);
                }
            }
            return frame;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(frame);
            throw;
        }
    }

    /// <summary>The error for a stream that ended: between frames, or in the middle of one.</summary>
    public SmbConnectionException EndOfStream(bool midFrame)
    {
        EndOfStreamSeen = true;
        return new(midFrame
            ? $"Server {peer} closed the connection in the middle of a frame."
            : $"Server {peer} closed the connection.");
    }

    private async ValueTask<int> ReadSomeAsync(Memory<byte> into, bool midFrame, CancellationToken cancellationToken)
    {
        var n = await stream.ReadAsync(into, cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            throw EndOfStream(midFrame);
        }
        clock.MarkReceived();
        return n;
    }
}
