using System.Buffers;
using System.Net.Sockets;

namespace SmbLayer.Transport;

/// <summary>
/// The reader's half of zero-copy: moves a READ answer's data from the socket into the <see cref="FileSink"/>'s
/// file (the bytes already staged with pwrite, the rest socket → pipe → file with splice), so the data never
/// enters this process's memory. One per link, made on first use, used only by the link's reader.
/// </summary>
internal sealed class SpliceReceiver : IDisposable
{
    private readonly SplicePipe _pipe;

    private SpliceReceiver(SplicePipe pipe) => _pipe = pipe;

    /// <summary>A receiver for <paramref name="stream"/>; null where splicing is not possible (not Linux, not a socket, no pipe).</summary>
    public static SpliceReceiver? TryCreate(Stream stream) =>
        SplicePipe.IsSupported && stream is NetworkStream network && SplicePipe.TryCreate(network.Socket) is { } pipe ? new SpliceReceiver(pipe) : null;

    /// <summary>
    /// The frame whose first bytes <paramref name="frames"/> has staged (at least <paramref name="dataOffset"/>) answers the
    /// READ of <paramref name="sink"/>: its <paramref name="dataLength"/> data bytes go into the sink's file and the head
    /// (the first <paramref name="dataOffset"/> bytes, in a pooled buffer the caller then owns) comes back to be dispatched.
    /// </summary>
    public async ValueTask<byte[]> ReceiveAsync(FrameReader frames, ReceiveClock clock, FileSink sink, int dataOffset, int dataLength,
        CancellationToken cancellationToken)
    {
        var head = ArrayPool<byte>.Shared.Rent(dataOffset);
        try
        {
            frames.Staged.Span[..dataOffset].CopyTo(head);
            frames.Consume(dataOffset);
            var done = Math.Min(dataLength, frames.StagedCount);
            if (done > 0)
            {
                clock.WriteLocally(static s => s.Sink.WriteStaged(s.Data.Span, 0), (Sink: sink, Data: frames.Staged[..done]));
                frames.Consume(done);
            }
            while (done < dataLength)
            {
                var n = _pipe.SpliceFromSocket(dataLength - done);
                if (n < 0)
                {
                    await _pipe.WaitForDataAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }
                if (n == 0)
                {
                    throw frames.EndOfStream(midFrame: true);
                }
                clock.MarkReceived();
                clock.WriteLocally(static s => s.Sink.WriteFromPipe(s.Pipe, s.Count, s.At), (Sink: sink, Pipe: _pipe, Count: n, At: done));
                done += n;
            }
            sink.MarkDelivered(dataLength);
            return head;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(head);
            throw;
        }
    }

    public void Dispose() => _pipe.Dispose();
}
