namespace SmbLayer.Protocol;

/// <summary>
/// Payload bytes of a request that live outside this process's memory, in a local file: the
/// transport may send them straight from the file (no copy through user memory); where it
/// cannot (signing, encryption), it reads them into the frame with <see cref="ReadInto"/>.
/// </summary>
internal abstract class ExternalPayload
{
    public abstract int Length { get; }

    /// <summary>Reads exactly <see cref="Length"/> bytes; an <see cref="IOException"/> when the source cannot give them all.</summary>
    public abstract void ReadInto(Span<byte> destination);
}
