using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace SmbLayer.Transport;

/// <summary>
/// Direct TCP transport framing (MS-SMB2 §2.1): each message is preceded by a 4-byte
/// header, a zero byte then a 24-bit big-endian length.
/// </summary>
internal static class DirectTcp
{
    public const int FrameHeaderSize = 4;

    /// <summary>Largest length the 24-bit field can carry.</summary>
    public const int MaxEncodableLength = 0xFFFFFF;

    public static void WriteFrameHeader(Span<byte> destination, int length)
    {
        if ((uint)length > MaxEncodableLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "Direct TCP frames carry at most 16 MiB - 1.");
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
    }

    /// <summary>Reads a frame header; throws <see cref="SmbProtocolException"/> when it is malformed or the length is outside (0, maxFrameLength].</summary>
    public static int ReadFrameLength(ReadOnlySpan<byte> header, int maxFrameLength)
    {
        var value = BinaryPrimitives.ReadUInt32BigEndian(header);
        if ((value & 0xFF000000) != 0)
        {
            throw new SmbProtocolException($"Bad Direct TCP frame header: first byte 0x{value >> 24:X2}, expected 0x00.");
        }
        var length = (int)value;
        if (length == 0)
        {
            throw new SmbProtocolException("Empty Direct TCP frame.");
        }
        if (length > maxFrameLength)
        {
            throw new SmbProtocolException($"Direct TCP frame of {length} bytes exceeds the limit of {maxFrameLength}.");
        }
        return length;
    }

    /// <summary>
    /// Opens a TCP connection to <paramref name="host"/>:<paramref name="port"/> within <paramref name="timeout"/>, with
    /// Nagle off and socket buffers of at least 4 MiB. A timeout or refusal is an <see cref="SmbConnectionException"/>;
    /// <paramref name="cancellationToken"/> firing is an <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<NetworkStream> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            // An address literal connects directly: the host-name overload goes through name resolution first (tens of ms at start-up).
            if (IPAddress.TryParse(host, out var address))
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), limit.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(host, port, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SmbConnectionException($"Connecting to {host}:{port} timed out after {timeout.TotalSeconds:0.#} s.");
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new SmbConnectionException($"Cannot connect to {host}:{port}: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        socket.ReceiveBufferSize = Math.Max(socket.ReceiveBufferSize, 4 * 1024 * 1024);
        socket.SendBufferSize = Math.Max(socket.SendBufferSize, 4 * 1024 * 1024);
        return new NetworkStream(socket, ownsSocket: true);
    }
}
