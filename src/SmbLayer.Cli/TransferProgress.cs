using System.Globalization;

namespace SmbLayer.Cli;

/// <summary>
/// A one-line progress bar on stderr (bytes, percent, rate), redrawn at most every
/// <see cref="RedrawInterval"/> and erased by <see cref="Dispose"/>. Only used when stderr is a terminal.
/// </summary>
internal sealed class TransferProgress : IProgress<long>, IDisposable
{
    /// <summary>About ten redraws a second: smooth enough, and cheap on slow terminals.</summary>
    public static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);

    private const int BarWidth = 20;

    private readonly TextWriter _writer;
    private readonly long? _totalBytes;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly Lock _drawLock = new();
    private TimeSpan? _lastDraw;
    private int _lastLineLength;

    public TransferProgress(TextWriter writer, long? totalBytes, TimeProvider? time = null)
    {
        _writer = writer;
        _totalBytes = totalBytes;
        _time = time ?? TimeProvider.System;
        _started = _time.GetTimestamp();
    }

    /// <summary>Called with the bytes transferred so far; draws if enough time has passed.</summary>
    public void Report(long bytes)
    {
        lock (_drawLock)
        {
            var now = _time.GetElapsedTime(_started);
            if (_lastDraw is { } last && now - last < RedrawInterval)
            {
                return;
            }
            _lastDraw = now;
            var rate = now.TotalSeconds > 0 ? bytes / now.TotalSeconds : 0;
            var line = Format(bytes, _totalBytes, rate);
            // Pad with spaces to wipe a longer previous line.
            _writer.Write("\r" + line.PadRight(_lastLineLength));
            _writer.Flush();
            _lastLineLength = line.Length;
        }
    }

    public void Dispose()
    {
        lock (_drawLock)
        {
            if (_lastLineLength > 0)
            {
                _writer.Write("\r" + new string(' ', _lastLineLength) + "\r");
                _writer.Flush();
                _lastLineLength = 0;
            }
        }
    }

    /// <summary>"[#######.............]  35%  3.5 MiB / 10.0 MiB  1.2 MiB/s"; without a total, bytes and rate only.</summary>
    public static string Format(long bytes, long? totalBytes, double bytesPerSecond)
    {
        var rate = FormatBytes((long)bytesPerSecond) + "/s";
        if (totalBytes is not > 0)
        {
            return $"{FormatBytes(bytes)}  {rate}";
        }
        var fraction = Math.Clamp((double)bytes / totalBytes.Value, 0, 1);
        var filled = (int)(fraction * BarWidth);
        var bar = new string('#', filled) + new string('.', BarWidth - filled);
        var percent = ((int)(fraction * 100)).ToString(CultureInfo.InvariantCulture).PadLeft(3);
        return $"[{bar}] {percent}%  {FormatBytes(bytes)} / {FormatBytes(totalBytes.Value)}  {rate}";
    }

    /// <summary>Binary units with one decimal: "512 B", "1.5 KiB", "3.2 GiB".</summary>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        }
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}

/// <summary>
/// Passes reads or writes through to another stream and reports the running byte count.
/// Counting at the local stream keeps the progress bar independent of how the library reports
/// progress. Not seekable, so the library reads or writes it front to back. Leaves the inner stream open.
/// </summary>
internal sealed class CountingStream(Stream inner, Action<long> onProgress) : Stream
{
    private long _count;

    public override bool CanRead => inner.CanRead;
    public override bool CanWrite => inner.CanWrite;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _count;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));
    public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Counted(count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        Counted(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Counted(buffer.Length);
    }

    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    private int Counted(int bytes)
    {
        if (bytes > 0)
        {
            onProgress(Interlocked.Add(ref _count, bytes));
        }
        return bytes;
    }
}
